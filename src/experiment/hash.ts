// Content hashes of configs: canonical JSON (keys sorted at every level) through SHA-256, so the
// same resolved config names the same trial and run folder on every machine.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted recursively; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** The first `length` hex digits of the SHA-256 of the value's canonical JSON. */
export function configHash(value: unknown, length = 16): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, length);
}
