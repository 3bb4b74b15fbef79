// Endorser patterns: regular expressions over the one-line DN, always matched against the whole DN.
//
// They are not run by the JavaScript RegExp engine. A backtracking engine takes exponential time on patterns
// such as `(a+)+b` or `(a|a)*b`, and no syntactic check catches every such pattern (nested quantifiers are
// only one of the shapes). Instead a pattern is compiled here into a small instruction list and simulated
// as a Thompson NFA (the Pike VM of RE2 and Go's regexp): every input character is looked at once by each
// live instruction, so matching a DN of n characters against a program of m instructions is O(n·m) whatever
// the pattern. The syntax is the subset that Python's re, POSIX ERE and JavaScript agree on, so a pattern
// means what an administrator used to any of them expects; anything outside it is refused, never guessed.

/** Longest pattern accepted, in characters. */
export const MAX_PATTERN_LENGTH = 1024;
/** Largest bound of a counted repetition `{n,m}`. */
export const MAX_REPEAT = 1000;
/** Largest compiled program (repetitions are expanded), in instructions. */
export const MAX_PROGRAM = 20_000;
const MAX_DEPTH = 100;
const MEMO_SIZE = 256;

/** A pattern that cannot be compiled; `index` is the 0-based character position of the problem. */
export class PatternSyntaxError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

/** Code point ranges, inclusive; `negate` inverts the set. */
interface CharSet {
  negate: boolean;
  ranges: [number, number][];
}

type Node =
  | { t: 'set'; set: CharSet }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'rep'; node: Node; min: number; max: number } // max = Infinity when unbounded
  | { t: 'bol' }
  | { t: 'eol' };

const DIGIT: [number, number][] = [[0x30, 0x39]];
const WORD: [number, number][] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: [number, number][] = [
  [0x09, 0x0d],
  [0x20, 0x20],
];
const CONTROL_ESCAPES: Record<string, number> = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d };
const CLASS_ESCAPES: Record<string, [boolean, [number, number][]]> = {
  d: [false, DIGIT],
  D: [true, DIGIT],
  w: [false, WORD],
  W: [true, WORD],
  s: [false, SPACE],
  S: [true, SPACE],
};
/** ASCII punctuation: `\` before any of these is that character itself. */
const PUNCTUATION = /^[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]$/;

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly chars: string[];

  constructor(source: string) {
    this.chars = Array.from(source);
  }

  private fail(message: string, at = this.pos): never {
    throw new PatternSyntaxError(message, at);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  parse(): Node {
    const node = this.alternation();
    if (this.pos < this.chars.length) this.fail(`unbalanced ')'`);
    return node;
  }

  private alternation(): Node {
    const items = [this.concatenation()];
    while (this.peek() === '|') {
      this.pos++;
      items.push(this.concatenation());
    }
    return items.length === 1 ? items[0] : { t: 'alt', items };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) {
      items.push(this.repetition());
    }
    return items.length === 1 ? items[0] : { t: 'cat', items };
  }

  private repetition(): Node {
    let node = this.atom();
    let quantified = false;
    for (;;) {
      const at = this.pos;
      const bounds = this.quantifier();
      if (!bounds) return node;
      if (quantified) this.fail('a quantifier cannot follow another one (multiple repeat)', at);
      if (node.t === 'bol' || node.t === 'eol') this.fail('nothing to repeat', at);
      quantified = true;
      // A lazy quantifier (`*?`) matches the same set of whole strings as a greedy one.
      if (this.peek() === '?') this.pos++;
      node = { t: 'rep', node, min: bounds[0], max: bounds[1] };
    }
  }

  /** `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` at the current position, consumed; undefined if none. */
  private quantifier(): [number, number] | undefined {
    const c = this.peek();
    if (c === '*') {
      this.pos++;
      return [0, Number.POSITIVE_INFINITY];
    }
    if (c === '+') {
      this.pos++;
      return [1, Number.POSITIVE_INFINITY];
    }
    if (c === '?') {
      this.pos++;
      return [0, 1];
    }
    if (c !== '{') return undefined;
    const at = this.pos;
    const rest = this.chars.slice(this.pos, this.pos + 24).join('');
    const m = /^\{(\d+)(,(\d*))?\}/.exec(rest);
    if (!m)
      this.fail(String.raw`'{' starts no repetition {n}, {n,} or {n,m} (write \{ for the character)`, at);
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
    if (min > MAX_REPEAT || (max !== Number.POSITIVE_INFINITY && max > MAX_REPEAT)) {
      this.fail(`repetition bound above ${MAX_REPEAT}`, at);
    }
    if (min > max) this.fail('repetition {n,m} with n greater than m', at);
    this.pos += m[0].length;
    return [min, max];
  }

  private atom(): Node {
    const at = this.pos;
    const c = this.chars[this.pos++];
    switch (c) {
      case '(': {
        if (this.peek() === '?') {
          if (this.chars[this.pos + 1] !== ':') {
            this.fail('only the plain group ( ) and the non-capturing group (?: ) are supported', at);
          }
          this.pos += 2;
        }
        if (++this.depth > MAX_DEPTH) this.fail(`groups nested deeper than ${MAX_DEPTH}`, at);
        const inner = this.alternation();
        if (this.peek() !== ')') this.fail(`missing ')' for the '(' at character ${at + 1}`);
        this.pos++;
        this.depth--;
        return inner;
      }
      case '[':
        return { t: 'set', set: this.charClass(at) };
      case '.':
        return { t: 'set', set: { negate: true, ranges: [] } };
      case '^':
        return { t: 'bol' };
      case '$':
        return { t: 'eol' };
      case '\\': {
        const esc = this.escape(false);
        return { t: 'set', set: esc };
      }
      case '*':
      case '+':
      case '?':
        return this.fail('nothing to repeat', at);
      case '{':
        return this.fail(String.raw`'{' starts no repetition here (write \{ for the character)`, at);
      case '}':
      case ']':
        return this.fail(`write \\${c} for the character ${c}`, at);
      default:
        return { t: 'set', set: { negate: false, ranges: [[c.codePointAt(0)!, c.codePointAt(0)!]] } };
    }
  }

  /** After a backslash: a class escape, a control escape or escaped punctuation. */
  private escape(inClass: boolean): CharSet {
    const at = this.pos - 1;
    const e = this.chars[this.pos++];
    if (e === undefined) this.fail('pattern ends with a lone backslash', at);
    const cls = CLASS_ESCAPES[e];
    if (cls) return { negate: cls[0], ranges: cls[1] };
    const control = CONTROL_ESCAPES[e];
    if (control !== undefined) return { negate: false, ranges: [[control, control]] };
    if (PUNCTUATION.test(e)) {
      const cp = e.codePointAt(0)!;
      return { negate: false, ranges: [[cp, cp]] };
    }
    return this.fail(
      `unsupported escape \\${e}${inClass ? ' in a class' : ''} (back-references, \\b, \\x, \\u and the like are not supported)`,
      at,
    );
  }

  private charClass(open: number): CharSet {
    const set: CharSet = { negate: false, ranges: [] };
    if (this.peek() === '^') {
      set.negate = true;
      this.pos++;
    }
    let first = true;
    for (;;) {
      const at = this.pos;
      const c = this.chars[this.pos++];
      if (c === undefined) this.fail(`missing ']' for the '[' at character ${open + 1}`, open);
      if (c === ']') {
        // `[]` is an empty set in JavaScript but starts a set holding `]` in Python and POSIX.
        if (first) this.fail(String.raw`a set cannot start with ']' (write \] for the character)`, at);
        return set;
      }
      if (c === '[') this.fail(String.raw`write \[ for the character [ inside a set`, at);
      first = false;
      let lo: CharSet;
      if (c === '\\') lo = this.escape(true);
      else lo = { negate: false, ranges: [[c.codePointAt(0)!, c.codePointAt(0)!]] };
      const single = !lo.negate && lo.ranges.length === 1 && lo.ranges[0][0] === lo.ranges[0][1];
      if (this.peek() === '-' && this.chars[this.pos + 1] !== ']' && this.chars[this.pos + 1] !== undefined) {
        const dash = this.pos;
        this.pos++;
        const h = this.chars[this.pos++]!;
        const hi: CharSet =
          h === '\\'
            ? this.escape(true)
            : { negate: false, ranges: [[h.codePointAt(0)!, h.codePointAt(0)!]] };
        const hiSingle = !hi.negate && hi.ranges.length === 1 && hi.ranges[0][0] === hi.ranges[0][1];
        if (!single || !hiSingle) this.fail('a range needs a single character at each end', dash);
        if (h === '[') this.fail(String.raw`write \[ for the character [ inside a set`, dash + 1);
        const a = lo.ranges[0][0];
        const b = hi.ranges[0][0];
        if (a > b) this.fail('range out of order', dash);
        set.ranges.push([a, b]);
        continue;
      }
      if (lo.negate) {
        // \D, \W, \S inside a set: add the complement of their ranges.
        set.ranges.push(...complement(lo.ranges));
      } else set.ranges.push(...lo.ranges);
    }
  }
}

function complement(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  let next = 0;
  for (const [a, b] of sorted) {
    if (a > next) out.push([next, a - 1]);
    next = Math.max(next, b + 1);
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

function inSet(set: CharSet, cp: number): boolean {
  let hit = false;
  for (const [a, b] of set.ranges) {
    if (cp >= a && cp <= b) {
      hit = true;
      break;
    }
  }
  return hit !== set.negate;
}

// Instructions of the program.
const CHAR = 0;
const SPLIT = 1;
const JMP = 2;
const BOL = 3;
const EOL = 4;
const MATCH = 5;

interface Program {
  op: Uint8Array;
  x: Int32Array;
  y: Int32Array;
  sets: (CharSet | undefined)[];
}

const cap = (n: number): number => Math.min(n, MAX_PROGRAM + 1);

/** Instructions a node compiles to (saturating, so huge repetitions are refused before anything is built). */
function size(node: Node): number {
  switch (node.t) {
    case 'set':
    case 'bol':
    case 'eol':
      return 1;
    case 'cat':
      return cap(node.items.reduce((n, i) => cap(n + size(i)), 0));
    case 'alt':
      return cap(node.items.reduce((n, i) => cap(n + size(i)), 0) + 2 * (node.items.length - 1));
    case 'rep': {
      const body = size(node.node);
      // min copies, then a loop (split, body, jmp) or (max - min) optional copies (split, body)
      if (node.max === Number.POSITIVE_INFINITY) return cap(body * (node.min + 1) + 2);
      return cap(body * node.max + (node.max - node.min));
    }
  }
}

function compileProgram(root: Node): Program {
  const op: number[] = [];
  const x: number[] = [];
  const y: number[] = [];
  const sets: (CharSet | undefined)[] = [];
  const emit = (o: number, a = -1, b = -1, s?: CharSet): number => {
    op.push(o);
    x.push(a);
    y.push(b);
    sets.push(s);
    return op.length - 1;
  };
  const gen = (node: Node): void => {
    switch (node.t) {
      case 'set':
        emit(CHAR, -1, -1, node.set);
        return;
      case 'bol':
        emit(BOL);
        return;
      case 'eol':
        emit(EOL);
        return;
      case 'cat':
        for (const item of node.items) gen(item);
        return;
      case 'alt': {
        // split L1, next; L1: a; jmp end; next: split L2, … ; last alternative falls through.
        const jumps: number[] = [];
        for (let i = 0; i < node.items.length; i++) {
          if (i < node.items.length - 1) {
            const split = emit(SPLIT);
            x[split] = op.length;
            gen(node.items[i]);
            jumps.push(emit(JMP));
            y[split] = op.length;
          } else gen(node.items[i]);
        }
        for (const j of jumps) x[j] = op.length;
        return;
      }
      case 'rep': {
        for (let i = 0; i < node.min; i++) gen(node.node);
        if (node.max === Number.POSITIVE_INFINITY) {
          // loop: split body, out; body; jmp loop
          const loop = emit(SPLIT);
          x[loop] = op.length;
          gen(node.node);
          emit(JMP, loop);
          y[loop] = op.length;
        } else {
          const splits: number[] = [];
          for (let i = node.min; i < node.max; i++) {
            const split = emit(SPLIT);
            x[split] = op.length;
            splits.push(split);
            gen(node.node);
          }
          for (const s of splits) y[s] = op.length;
        }
        return;
      }
    }
  };
  gen(root);
  emit(MATCH);
  return { op: Uint8Array.from(op), x: Int32Array.from(x), y: Int32Array.from(y), sets };
}

/** A compiled endorser pattern. */
export interface CompiledPattern {
  readonly source: string;
  /** True when the pattern matches the whole of `text`. */
  matches(text: string): boolean;
}

function simulate(prog: Program, text: string): boolean {
  const n = prog.op.length;
  const input = Array.from(text, (c) => c.codePointAt(0)!);
  const end = input.length;
  let clist = new Int32Array(n);
  let nlist = new Int32Array(n);
  let ccount = 0;
  let ncount = 0;
  const mark = new Int32Array(n).fill(-1);
  const stack = new Int32Array(2 * n + 2); // a SPLIT pushes two, and each pc is expanded once
  let generation = 0;

  // Adds pc and everything reachable from it without reading a character, for position `pos`.
  const add = (list: Int32Array, count: number, start: number, pos: number): number => {
    let sp = 0;
    stack[sp++] = start;
    while (sp > 0) {
      const pc = stack[--sp];
      if (mark[pc] === generation) continue;
      mark[pc] = generation;
      switch (prog.op[pc]) {
        case JMP:
          stack[sp++] = prog.x[pc];
          break;
        case SPLIT:
          stack[sp++] = prog.y[pc];
          stack[sp++] = prog.x[pc];
          break;
        case BOL:
          if (pos === 0) stack[sp++] = pc + 1;
          break;
        case EOL:
          if (pos === end) stack[sp++] = pc + 1;
          break;
        default:
          list[count++] = pc;
      }
    }
    return count;
  };

  ccount = add(clist, 0, 0, 0);
  for (let pos = 0; pos < end && ccount > 0; pos++) {
    const cp = input[pos];
    generation++;
    ncount = 0;
    for (let i = 0; i < ccount; i++) {
      const pc = clist[i];
      if (prog.op[pc] === CHAR && inSet(prog.sets[pc]!, cp)) ncount = add(nlist, ncount, pc + 1, pos + 1);
    }
    [clist, nlist] = [nlist, clist];
    ccount = ncount;
  }
  for (let i = 0; i < ccount; i++) if (prog.op[clist[i]] === MATCH) return true;
  return false;
}

/**
 * Compiles a pattern for whole-string matching. Throws {@link PatternSyntaxError} for anything outside the
 * supported syntax, for patterns longer than {@link MAX_PATTERN_LENGTH} characters and for programs larger
 * than {@link MAX_PROGRAM} instructions.
 */
export function compilePattern(source: string): CompiledPattern {
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new PatternSyntaxError(`longer than ${MAX_PATTERN_LENGTH} characters`, MAX_PATTERN_LENGTH);
  }
  const ast = new Parser(source).parse();
  if (size(ast) > MAX_PROGRAM) {
    throw new PatternSyntaxError(
      `too complex: more than ${MAX_PROGRAM} instructions once repetitions are expanded`,
      0,
    );
  }
  const prog = compileProgram(ast);
  // A list evaluates the same signer DN once per image: remember recent answers.
  const memo = new Map<string, boolean>();
  return {
    source,
    matches(text: string): boolean {
      const known = memo.get(text);
      if (known !== undefined) return known;
      const result = simulate(prog, text);
      if (memo.size >= MEMO_SIZE) memo.clear();
      memo.set(text, result);
      return result;
    },
  };
}

const compiled = new Map<string, CompiledPattern>();
const COMPILED_SIZE = 4096;

/** {@link compilePattern} through a cache: each distinct pattern is compiled once. */
export function cachedPattern(source: string): CompiledPattern {
  let p = compiled.get(source);
  if (!p) {
    p = compilePattern(source);
    if (compiled.size >= COMPILED_SIZE) compiled.clear();
    compiled.set(source, p);
  }
  return p;
}
