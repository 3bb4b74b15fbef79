// Reading a metrics file as node_exporter would: the npm parser of the text format, plus a strict check of every
// line against the format's grammar (the parser is lenient), and a lookup of one sample.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { expect } from 'vitest';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(
  `^${NAME}(?:\\{${LABEL}(?:,${LABEL})*\\})? (?:[-+]?(?:\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?|Inf)|NaN)$`,
);
const HELP = new RegExp(`^# HELP ${NAME} .+$`);
const TYPE = new RegExp(`^# TYPE ${NAME} (?:counter|gauge|summary|histogram|untyped)$`);

export type Metrics = ReturnType<typeof parsePrometheusTextFormat>;

export function parseMetrics(text: string): Metrics {
  expect(text.endsWith('\n')).toBe(true);
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) expect(line).toMatch(HELP);
    else if (line.startsWith('# TYPE ')) {
      expect(line).toMatch(TYPE);
      const name = line.split(' ')[2];
      // One TYPE line per family, before its samples.
      expect(typed.has(name)).toBe(false);
      typed.add(name);
    } else {
      expect(line).toMatch(SAMPLE);
      expect(typed.has(line.split(/[{ ]/)[0])).toBe(true);
    }
  }
  return parsePrometheusTextFormat(text);
}

/** The value of the sample of `name` whose labels include `labels`; undefined when there is none. */
export function sample(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = metrics.find((f) => f.name === name);
  const m = family?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  if (m === undefined) return undefined;
  // The format spells infinities +Inf and -Inf, which Number() does not read.
  return m.value === '+Inf'
    ? Number.POSITIVE_INFINITY
    : m.value === '-Inf'
      ? Number.NEGATIVE_INFINITY
      : Number(m.value);
}
