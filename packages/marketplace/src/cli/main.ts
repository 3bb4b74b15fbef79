// vmmarketplace: argument parsing, library calls, printing, exit statuses (src/cli/exit.ts).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  escapeControl,
  formatJsonRecord,
  formatPythonRecord,
  type Logger,
  type LogLevel,
  LEVEL_NUMBERS,
} from '@hepix/common';
import { openStore } from '@hepix/imagelist-store';
import { createTransport } from '@hepix/transport';
import { decideIngest } from '../decide.js';
import { listRecord } from '../entries.js';
import { isMarketplaceErrorCode, MarketplaceError } from '../errors.js';
import { httpsTrust, postBytes } from '../remote.js';
import { MARKETPLACE_VERSION } from '../server/app.js';
import { DEFAULT_CERT_DIR, DEFAULT_DB_URL, startMarketplace } from '../server.js';
import { type ListSummary, marketplaceExtension } from '../store.js';
import { type CrlPolicy, loadTrustDirectory, openMarketplaceList } from '../verify.js';
import { EXIT, exitStatusOf } from './exit.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Ends `serve` (the bin aborts it on SIGINT/SIGTERM). */
  signal?: AbortSignal;
  now?: () => Date;
}

export const USAGE = `Usage: vmmarketplace <command> [options]

Commands:
  serve     [--db URL] [--listen HOST:PORT] [--cert-dir DIR] [--allow-endorser REGEX]...
            [--max-list-bytes N] [--replica-of URL] [--replica-interval SECONDS] [--crl require|if-present|ignore]
            [--name TEXT] [--log-level debug|info|warn|error] [--log-format text|json]
  upload    FILE --url BASE [--cert-dir DIR] [--json]
  validate  FILE [--cert-dir DIR] [--crl require|if-present|ignore]
  expiring  --days N [--db URL] [--json]

Environment: VMMARKETPLACE_RDBMS (default ${DEFAULT_DB_URL}), VMMARKETPLACE_DIR_CERT
(default ${DEFAULT_CERT_DIR}).
`;

function usage(message: string): MarketplaceError {
  return new MarketplaceError('ERR_MARKET_USAGE', message);
}

type Spec = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

function parse(argv: string[], options: Spec): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (cause) {
    throw new MarketplaceError('ERR_MARKET_USAGE', (cause as Error).message, { cause });
  }
}

function crlOption(v: unknown): CrlPolicy | undefined {
  if (v === undefined) return undefined;
  if (v === 'require' || v === 'if-present' || v === 'ignore') return v;
  throw usage(`--crl must be require, if-present or ignore`);
}

function positiveInt(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) <= 0)
    throw usage(`${name} must be a positive integer`);
  return Number(v);
}

function makeLogger(io: CliIo, level: LogLevel, format: 'text' | 'json'): Logger {
  return (l, message, fields) => {
    if (LEVEL_NUMBERS[l] < LEVEL_NUMBERS[level]) return;
    const record = { time: new Date(), level: l, message, fields };
    io.stderr(
      `${format === 'json' ? formatJsonRecord(record) : formatPythonRecord(record, '%(asctime)s %(levelname)s %(name)s %(message)s')}\n`,
    );
  };
}

async function serveCommand(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    db: { type: 'string' },
    listen: { type: 'string' },
    'cert-dir': { type: 'string' },
    'allow-endorser': { type: 'string', multiple: true },
    'max-list-bytes': { type: 'string' },
    'replica-of': { type: 'string' },
    'replica-interval': { type: 'string' },
    crl: { type: 'string' },
    name: { type: 'string' },
    'log-level': { type: 'string' },
    'log-format': { type: 'string' },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (positionals.length) throw usage(`serve takes no arguments (got '${positionals[0]}')`);
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!(level in LEVEL_NUMBERS)) throw usage('--log-level must be debug, info, warn or error');
  const format = values['log-format'] ?? 'text';
  if (format !== 'text' && format !== 'json') throw usage('--log-format must be text or json');
  const server = await startMarketplace({
    db: (values.db as string | undefined) ?? env.VMMARKETPLACE_RDBMS ?? DEFAULT_DB_URL,
    listen: values.listen as string | undefined,
    certDir: (values['cert-dir'] as string | undefined) ?? env.VMMARKETPLACE_DIR_CERT ?? DEFAULT_CERT_DIR,
    allowEndorsers: (values['allow-endorser'] as string[] | undefined) ?? [],
    maxListBytes: positiveInt('--max-list-bytes', values['max-list-bytes']),
    replicaOf: values['replica-of'] as string | undefined,
    replicaIntervalSeconds: positiveInt('--replica-interval', values['replica-interval']),
    crl: crlOption(values.crl),
    name: values.name as string | undefined,
    log: makeLogger(io, level, format),
    now: io.now,
  });
  io.stdout(`vmmarketplace: listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    if (!io.signal) return; // runs until the process ends
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  return 0;
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new MarketplaceError('ERR_MARKET_USAGE', `cannot read ${path}: ${(cause as Error).message}`, {
      path,
      cause,
    });
  }
}

async function uploadCommand(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    url: { type: 'string' },
    'cert-dir': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw usage('upload takes one FILE');
  if (!values.url) throw usage('upload needs --url BASE (the marketplace)');
  const base = String(values.url).replace(/\/+$/, '');
  const data = await readInput(positionals[0]);
  const url = `${base}/api/lists`;
  // An https marketplace is authenticated by the system roots and the grid CA directory: the one named, else
  // the default one when this machine has it.
  const named = (values['cert-dir'] as string | undefined) ?? env.VMMARKETPLACE_DIR_CERT;
  const certDir = named ?? (existsSync(DEFAULT_CERT_DIR) ? DEFAULT_CERT_DIR : undefined);
  const transport = createTransport({ userAgent: `vmmarketplace/${MARKETPLACE_VERSION}`, env });
  let r: { status: number; body: Buffer };
  try {
    r = await postBytes(transport, url, data, {
      tls: await httpsTrust(certDir),
      headers: { 'content-type': 'application/octet-stream', accept: 'application/json' },
      maxBytes: 1024 * 1024,
    });
  } finally {
    await transport.close();
  }
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(r.body.toString('utf8'));
  } catch {
    answer = {};
  }
  if (r.status !== 201) {
    const code = isMarketplaceErrorCode(answer.code) ? answer.code : 'ERR_MARKET_HTTP';
    const message = typeof answer.message === 'string' ? answer.message : `${url} answered ${r.status}`;
    throw new MarketplaceError(code, message, { url, httpStatus: r.status, path: positionals[0] });
  }
  const id = String(answer.identifier);
  if (values.json) io.stdout(`${JSON.stringify(answer)}\n`);
  else {
    io.stdout(`${base}/api/lists/${encodeURIComponent(id)}\n`);
    io.stderr(
      `Stored list ${escapeControl(id)} version ${escapeControl(String(answer.version))} (${Number(answer.images)} images); subscribe to ${base}/lists/${encodeURIComponent(id)}.smime\n`,
    );
  }
  return 0;
}

async function validateCommand(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { 'cert-dir': { type: 'string' }, crl: { type: 'string' } });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw usage('validate takes one FILE');
  const file = positionals[0];
  const certDir =
    (values['cert-dir'] as string | undefined) ?? env.VMMARKETPLACE_DIR_CERT ?? DEFAULT_CERT_DIR;
  const crl = crlOption(values.crl);
  const data = await readInput(file);
  const trust = await loadTrustDirectory(certDir);
  const at = io.now?.() ?? new Date();
  const invalid = (code: keyof typeof EXIT, message: string): number => {
    io.stdout(`Invalid: ${file}\n${escapeControl(message)}\n`);
    return EXIT[code];
  };
  try {
    const record = listRecord(await openMarketplaceList(data, { trust, at, crl }));
    // The checks of an upload to an empty marketplace (dates); versions need a stored list.
    const decision = decideIngest(
      undefined,
      { ...record, dataHash: '', endorser: record.endorser.dn },
      { referenceTime: at },
    );
    if (decision.kind === 'refuse') return invalid(decision.code, decision.message);
  } catch (err) {
    if (!(err instanceof MarketplaceError) || err.code === 'ERR_MARKET_INTERNAL') throw err;
    return invalid(err.code, err.message);
  }
  io.stdout(`Valid: ${file}\n`);
  return 0;
}

async function expiringCommand(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    days: { type: 'string' },
    db: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (positionals.length) throw usage(`expiring takes no arguments (got '${positionals[0]}')`);
  if (values.days === undefined) throw usage('expiring needs --days N');
  const days = positiveInt('--days', values.days)!;
  const now = io.now?.() ?? new Date();
  const store = await openStore(
    (values.db as string | undefined) ?? env.VMMARKETPLACE_RDBMS ?? DEFAULT_DB_URL,
    {
      extensions: [marketplaceExtension],
      mustExist: true,
    },
  );
  let lists: ListSummary[];
  try {
    lists = await store
      .extension(marketplaceExtension)
      .expiringLists(now, new Date(now.getTime() + days * 86_400_000), now);
  } finally {
    await store.close();
  }
  // Grouped per endorser, as the original's reminder mails were.
  const groups = new Map<string, { endorser: ListSummary['endorser']; lists: ListSummary[] }>();
  for (const l of lists) {
    const key = `${l.endorser.dn}\n${l.endorser.ca}\n${l.endorser.email}`;
    const g = groups.get(key) ?? { endorser: l.endorser, lists: [] };
    g.lists.push(l);
    groups.set(key, g);
  }
  const out = [...groups.values()];
  if (values.json) {
    io.stdout(
      `${JSON.stringify(
        out.map((g) => ({
          endorser: g.endorser,
          lists: g.lists.map((l) => ({
            identifier: l.identifier,
            version: l.version,
            title: l.title,
            expires: l.expires,
          })),
        })),
      )}\n`,
    );
    return 0;
  }
  for (const g of out) {
    const who = g.endorser.email ? `${g.endorser.email} (${g.endorser.dn})` : g.endorser.dn;
    io.stdout(`${escapeControl(who)}\n`);
    for (const l of g.lists) {
      io.stdout(
        `  ${escapeControl(l.identifier)}\tversion ${escapeControl(l.version)}\texpires ${l.expires}\t${escapeControl(l.title)}\n`,
      );
    }
  }
  return 0;
}

const COMMANDS: Record<string, (argv: string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>> = {
  serve: serveCommand,
  upload: uploadCommand,
  validate: validateCommand,
  expiring: expiringCommand,
};

/** Runs `vmmarketplace ARGV…` and returns the exit status; errors are printed as `vmmarketplace: CODE: message`. */
export async function runMarketplaceCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.stderr : io.stdout)(USAGE);
    return command === undefined ? EXIT.ERR_MARKET_USAGE : 0;
  }
  const run = COMMANDS[command];
  try {
    if (!run) throw usage(`unknown command '${command}'`);
    return await run(rest, env, io);
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    const known = typeof code === 'string' && code in EXIT;
    io.stderr(
      `vmmarketplace: ${known ? `${code}: ` : 'ERR_MARKET_INTERNAL: '}${escapeControl((err as Error)?.message ?? String(err))}\n`,
    );
    if (code === 'ERR_MARKET_USAGE') io.stderr(USAGE);
    return exitStatusOf(err);
  }
}
