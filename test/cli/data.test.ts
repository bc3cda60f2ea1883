// `semipoison data download` against a local server: a file whose checksum is not the published
// one is refused with a clear error and leaves nothing under the final name.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('./bin/semipoison.js', args);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('semipoison data download', () => {
  it('verifies the published md5 and keeps no unverified file', async () => {
    const server = createServer((req, res) => {
      if (req.url?.endsWith('/test_32x32.mat')) {
        res.writeHead(200, { 'content-length': 1024 });
        res.end(Buffer.alloc(1024, 7));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'dl-'));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await run(['data', 'download', 'svhn', '--dir', dir, '--base-url', base, '--splits', 'test']);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/md5|checksum/i);
      expect(existsSync(join(dir, 'test_32x32.mat'))).toBe(false);
      expect(readdirSync(dir).filter((f) => !f.endsWith('.part'))).toEqual([]);
      const bad = await run(['data', 'download', 'imagenet', '--dir', dir]);
      expect(bad.code).not.toBe(0);
      expect(bad.err).toMatch(/Allowed choices are cifar10, svhn, stl10/);
    } finally {
      server.close();
    }
  });
});
