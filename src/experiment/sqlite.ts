// better-sqlite3, loaded in one place with the few typed methods the store uses (the package ships
// no type declarations) and a fix-it message when its native module is missing.
import { createRequire } from 'node:module';

export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

type DatabaseConstructor = new (path: string, options?: { timeout?: number; readonly?: boolean }) => Database;

let constructor: DatabaseConstructor | null = null;

export function openDatabase(path: string, options: { timeout?: number; readonly?: boolean } = {}): Database {
  if (!constructor) {
    try {
      constructor = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
    } catch (err) {
      throw new Error(
        `cannot load better-sqlite3 (${(err as Error).message.split('\n')[0]}); run \`npm ci\` or \`npm rebuild better-sqlite3\``,
      );
    }
  }
  return new constructor(path, options);
}
