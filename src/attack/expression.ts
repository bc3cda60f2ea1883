// A safe parser for user-given density expressions in x: numbers, x, + − × ÷ ^, parentheses and a
// fixed set of functions. It builds a closure from a syntax tree; nothing is evaluated as code.
const FUNCTIONS: Record<string, (v: number) => number> = {
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: Math.log,
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  // φ, the standard normal density, as in the paper's Table 3.
  phi: (v) => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI),
};
const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E };

type Node = (x: number) => number;

export function parseExpression(source: string): Node {
  const text = source;
  if (text.trim().length === 0) throw new Error('density expression is empty');
  if (text.length > 500) throw new Error('density expression is longer than 500 characters');
  let pos = 0;
  const fail = (why: string): never => {
    throw new Error(`density expression '${source}': ${why} at position ${pos + 1}`);
  };
  // Whitespace separates tokens (so 'sqrt x' is not read as 'sqrtx') and is otherwise ignored.
  const peek = (): string => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
    return text[pos] ?? '';
  };

  // expr := term (('+'|'-') term)*
  const expr = (): Node => {
    let left = term();
    while (peek() === '+' || peek() === '-') {
      const op = text[pos++];
      const l = left;
      const r = term();
      left = op === '+' ? (x) => l(x) + r(x) : (x) => l(x) - r(x);
    }
    return left;
  };
  // term := unary (('*'|'/') unary)*
  const term = (): Node => {
    let left = unary();
    while (peek() === '*' || peek() === '/') {
      const op = text[pos++];
      const l = left;
      const r = unary();
      left = op === '*' ? (x) => l(x) * r(x) : (x) => l(x) / r(x);
    }
    return left;
  };
  // unary := ('-'|'+') unary | power
  const unary = (): Node => {
    if (peek() === '-') {
      pos++;
      const u = unary();
      return (x) => -u(x);
    }
    if (peek() === '+') {
      pos++;
      return unary();
    }
    return power();
  };
  // power := atom ('^' unary)?   (right-associative, binds tighter than unary minus on its left)
  const power = (): Node => {
    const base = atom();
    if (peek() === '^') {
      pos++;
      const e = unary();
      return (x) => Math.pow(base(x), e(x));
    }
    return base;
  };
  const atom = (): Node => {
    const c = peek();
    if (c === '(') {
      pos++;
      const inner = expr();
      if (peek() !== ')') fail("expected ')'");
      pos++;
      return inner;
    }
    const num = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?/i.exec(text.slice(pos));
    if (num) {
      pos += num[0].length;
      const v = Number(num[0]);
      return () => v;
    }
    const id = /^[a-z]+/i.exec(text.slice(pos));
    if (id) {
      const name = id[0].toLowerCase();
      pos += id[0].length;
      if (name === 'x') return (x) => x;
      // Own properties only: 'constructor' or '__proto__' must not reach Object.prototype.
      if (Object.hasOwn(CONSTANTS, name)) {
        const v = CONSTANTS[name];
        return () => v;
      }
      if (!Object.hasOwn(FUNCTIONS, name)) {
        fail(`unknown name '${id[0]}' (allowed: x, ${Object.keys({ ...FUNCTIONS, ...CONSTANTS }).join(', ')})`);
      }
      const f = FUNCTIONS[name];
      if (peek() !== '(') fail(`expected '(' after ${name}`);
      pos++;
      const arg = expr();
      if (peek() !== ')') fail("expected ')'");
      pos++;
      return (x) => f(arg(x));
    }
    return fail(c ? `unexpected '${c}'` : 'unexpected end');
  };

  const node = expr();
  if (peek() !== '') fail(`unexpected '${peek()}'`);
  return node;
}
