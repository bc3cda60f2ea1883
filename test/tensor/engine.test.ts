// The engine's contract: memory scopes, clear errors that leave the process running, seeding,
// autocast, autograd entry points and safetensors round trips.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { native } from '../../src/tensor/native.js';
import {
  arange,
  autocast,
  bernoulli,
  callOp,
  checkDevice,
  conv2d,
  crossEntropy,
  dispose,
  getRngState,
  grad,
  keep,
  liveTensors,
  loadSafetensors,
  manualSeed,
  noGrad,
  ones,
  rand,
  randint,
  randn,
  randperm,
  saveSafetensors,
  setNumThreads,
  getBlasThreads,
  getNumThreads,
  setRngState,
  tensor,
  tidy,
  zeros,
  decodeSafetensors,
  encodeSafetensors,
  linear,
  oneHot,
} from '../../src/tensor/index.js';

describe('memory', () => {
  it('tidy disposes intermediates and keeps what it returns', () => {
    const before = liveTensors();
    const out = tidy(() => {
      const a = ones([3, 3]);
      const b = a.mul(2).add(1);
      return { b, list: [a.sum()] };
    });
    expect(liveTensors()).toBe(before + 2);
    expect(out.b.toNumbers()).toEqual(new Array(9).fill(3));
    dispose(out);
    expect(liveTensors()).toBe(before);
  });

  it('tidy disposes everything when the function throws', () => {
    const before = liveTensors();
    expect(() =>
      tidy(() => {
        ones([2]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(liveTensors()).toBe(before);
  });

  it('keep() survives scopes; nested scopes hand results outward', () => {
    const before = liveTensors();
    let kept = null as ReturnType<typeof ones> | null;
    const outer = tidy(() => {
      kept = keep(ones([2]));
      const inner = tidy(() => ones([4]).mul(3));
      return inner.add(1);
    });
    expect(outer.toNumbers()).toEqual([4, 4, 4, 4]);
    expect(kept!.isDisposed).toBe(false);
    dispose([outer, kept]);
    expect(liveTensors()).toBe(before);
  });

  it('rejects async functions in tidy', () => {
    expect(() => tidy(() => Promise.resolve(1))).toThrow(/synchronous/);
  });
});

describe('errors are clear and recoverable', () => {
  it('shape mismatches name the op and the shapes', () => {
    const a = ones([2, 3]);
    const b = ones([2, 3]);
    expect(() => a.matmul(b)).toThrow(/matmul: shapes \[2,3\] and \[2,3\] do not match/);
    expect(() => a.add(ones([4]))).toThrow(/add: shapes \[2,3\] and \[4\] cannot be broadcast/);
    expect(() => conv2d(ones([1, 2, 5, 5]), ones([4, 3, 3, 3]))).toThrow(
      /weight expects 3 input channels, input has 2/,
    );
    expect(() => linear(ones([2, 5]), ones([3, 4]))).toThrow(
      /linear: weight \[3,4\] does not take inputs with 5 features/,
    );
    expect(() => a.reshape([4, 2])).toThrow(/cannot reshape \[2,3\] \(6 elements\) into \[4,2\]/);
    dispose([a, b]);
  });

  it('libtorch errors become JS errors naming the operator and input shapes', () => {
    const a = ones([2, 3]);
    expect(() => callOp('mm', '', [a, a])).toThrow(/aten::mm\(self: \[2,3\] float32, mat2: \[2,3\] float32\)/);
    expect(() => callOp('no_such_op', '', [a])).toThrow(/unknown operator aten::no_such_op/);
    expect(() => callOp('add', 'Tensor', [a, 'x'])).toThrow(/argument 'other'/);
    a.dispose();
  });

  it('wrong dtypes are rejected before reaching libtorch', () => {
    const logits = ones([2, 3]);
    expect(() => crossEntropy(logits, tensor([0, 1], [2], { dtype: 'int32' }))).toThrow(/int64 class indices/);
    expect(() => crossEntropy(logits, tensor([0, 3], [2], { dtype: 'int64' }))).toThrow(/in \[0, 3\), got \[0, 3\]/);
    expect(() => oneHot(tensor([0.5]), 3)).toThrow(/oneHot: labels must be int64/);
    expect(() => ones([2]).indexSelect(0, tensor([0.0]))).toThrow(/index must be int64 or int32/);
    expect(() => tensor(new Int32Array(2), [2], { dtype: 'float32' })).toThrow(/Int32Array cannot hold dtype float32/);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2,2\]/);
  });

  it('NaN and non-finite arguments are rejected where they matter', () => {
    const a = ones([2]);
    expect(() => a.mul(NaN)).toThrow(/NaN|finite/);
    expect(() => a.clamp(NaN, 1)).toThrow(/clamp: min must be a finite number/);
    expect(() => a.leakyRelu(Infinity)).toThrow(/finite/);
    expect(() => bernoulli(1.5, [3])).toThrow(/p must be in \[0, 1\]/);
    expect(() => a.normal_(0, NaN)).toThrow(/std must be a finite number/);
    a.dispose();
  });

  it('a disposed tensor cannot be used, and says so', () => {
    const a = ones([2]);
    a.dispose();
    expect(a.isDisposed).toBe(true);
    expect(() => a.add(1)).toThrow(/disposed/);
    expect(() => a.shape).toThrow(/disposed/);
    expect(() => a.data()).toThrow(/disposed/);
    expect(String(a)).toBe('Tensor(disposed)');
  });

  it('backward on a tensor without grad explains why', () => {
    const a = ones([1]);
    expect(() => a.backward()).toThrow(/does not require grad/);
    const b = ones([2]).setRequiresGrad(true);
    expect(() => b.mul(2).backward()).toThrow(/gradient is needed for a non-scalar/);
    dispose([a, b]);
  });

  it('unknown devices are refused with a fix-it message', () => {
    expect(() => checkDevice('tpu')).toThrow(/unknown device 'tpu'/);
    expect(() => checkDevice('cuda')).toThrow(/LIBTORCH/);
    expect(checkDevice('cpu')).toBe('cpu');
  });
});

describe('randomness', () => {
  it('manualSeed makes every generator reproducible, and the RNG state restores exactly', () => {
    const draw = () =>
      tidy(() =>
        [rand([5]), randn([5]), randint(0, 100, [5]), randperm(7), bernoulli(0.5, [8])].map((t) => t.toNumbers()),
      );
    manualSeed(42);
    const first = draw();
    manualSeed(42);
    expect(draw()).toEqual(first);
    const state = getRngState();
    const next = draw();
    setRngState(state);
    expect(draw()).toEqual(next);
    state.dispose();
    const p = randperm(50).toNumbers();
    expect([...p].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect(() => manualSeed(-1)).toThrow(/non-negative integer/);
  });
});

describe('autograd', () => {
  it('grad() returns gradients without touching .grad', () => {
    tidy(() => {
      const x = tensor([1, 2, 3]).setRequiresGrad(true);
      const [g] = grad(x.pow(2).sum(), [x]);
      expect(g!.toNumbers()).toEqual([2, 4, 6]);
      expect(x.grad).toBeNull();
    });
  });

  it('noGrad stops recording', () => {
    tidy(() => {
      const x = ones([2]).setRequiresGrad(true);
      const y = noGrad(() => x.mul(2));
      expect(y.requiresGrad).toBe(false);
      expect(x.mul(2).requiresGrad).toBe(true);
    });
  });
});

describe('autocast', () => {
  it('runs convolutions in bfloat16 while losses stay float32', () => {
    tidy(() => {
      const x = randn([2, 3, 8, 8]);
      const w = randn([4, 3, 3, 3]).setRequiresGrad(true);
      const y = autocast(() => conv2d(x, w, null, { padding: 1 }));
      expect(y.dtype).toBe('bfloat16');
      const loss = autocast(() => crossEntropy(y.mean([2, 3]), tensor([0, 1], [2], { dtype: 'int64' })));
      expect(loss.dtype).toBe('float32');
      loss.backward();
      expect(w.grad!.dtype).toBe('float32');
      const off = autocast(() => conv2d(x, w), { enabled: false });
      expect(off.dtype).toBe('float32');
      expect(conv2d(x, w).dtype).toBe('float32');
    });
  });

  it("switches CUDA's autocast to bfloat16 by default and restores it, and refuses float16 on the CPU", () => {
    // No GPU here: libtorch's CUDA autocast state is still a switch that can be observed.
    const calls: unknown[][] = [];
    const original = native.setAutocast.bind(native);
    const spy = vi.spyOn(native, 'setAutocast').mockImplementation((...args: Parameters<typeof original>) => {
      calls.push(args);
      return original(...args);
    });
    try {
      expect(autocast(() => 7, { device: 'cuda:0' })).toBe(7);
      expect(calls).toEqual([
        ['cuda', true, 'bfloat16'],
        ['cuda', false, 'bfloat16'],
      ]);
      autocast(() => 0, { device: 'cuda', dtype: 'float16' });
      expect(calls[2]).toEqual(['cuda', true, 'float16']);
    } finally {
      spy.mockRestore();
    }
    expect(() => autocast(() => 0, { dtype: 'float16' })).toThrow(/CPU autocast supports bfloat16 only/);
  });
});

describe('threads', () => {
  it('sets the intra-op thread count, OpenBLAS’s included', () => {
    const prev = getNumThreads();
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    // Debian's libtorch (the default build, no LIBTORCH) does its dense products in OpenBLAS, whose
    // pool must follow; other builds may link MKL, which follows libtorch's own count.
    const blas = getBlasThreads();
    if (!process.env.LIBTORCH) expect(blas).not.toBeNull();
    if (blas !== null) expect(blas).toBe(1);
    setNumThreads(2);
    if (blas !== null && availableParallelism() >= 2) expect(getBlasThreads()).toBe(2);
    setNumThreads(prev);
    expect(() => setNumThreads(0)).toThrow(/positive integer/);
  });
});

describe('safetensors', () => {
  it('round-trips every dtype and metadata, writing atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const path = join(dir, 'a.safetensors');
    tidy(() => {
      const ts = {
        f32: randn([2, 3]),
        f64: randn([3], { dtype: 'float64' }),
        bf16: randn([4]).to('bfloat16'),
        f16: randn([4]).to('float16'),
        i64: arange(5),
        i32: arange(4).to('int32'),
        u8: tensor(new Uint8Array([0, 7, 255])),
        b: tensor([1, 0, 1], [3], { dtype: 'bool' }),
        empty: zeros([0, 3]),
      };
      saveSafetensors(path, ts, { step: '12' });
      expect(readdirSync(dir)).toEqual(['a.safetensors']);
      const back = loadSafetensors(path);
      expect(back.metadata).toEqual({ step: '12' });
      for (const [k, t] of Object.entries(ts)) {
        expect(back.tensors[k].dtype, k).toBe(t.dtype);
        expect([...back.tensors[k].shape], k).toEqual([...t.shape]);
        expect(back.tensors[k].toNumbers(), k).toEqual(t.toNumbers());
      }
    });
  });

  it('rejects corrupt files with a clear reason', () => {
    const good = Buffer.concat(tidy(() => encodeSafetensors({ a: ones([4]) })));
    expect(() => decodeSafetensors(good.subarray(0, 4))).toThrow(/shorter than the 8-byte header/);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 4))).toThrow(/outside the 12 data bytes|needs 16/);
    const badLen = Buffer.from(good);
    badLen.writeBigUInt64LE(10n ** 12n);
    expect(() => decodeSafetensors(badLen)).toThrow(/exceeds the file size/);
    const badJson = Buffer.from(good);
    badJson[10] = 0x7b;
    badJson[11] = 0x7b;
    expect(() => decodeSafetensors(badJson)).toThrow(/not JSON/);
    const mk = (header: object, data = 0) => {
      const h = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      return Buffer.concat([len, h, Buffer.alloc(data)]);
    };
    expect(() => decodeSafetensors(mk({ a: { dtype: 'X9', shape: [1], data_offsets: [0, 4] } }, 4))).toThrow(
      /unsupported dtype/,
    );
    expect(() => decodeSafetensors(mk({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4))).toThrow(
      /needs 8/,
    );
    expect(() =>
      decodeSafetensors(
        mk(
          {
            a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
            b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          },
          4,
        ),
      ),
    ).toThrow(/gap or overlap/);
    expect(() => decodeSafetensors(mk({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8))).toThrow(
      /trailing bytes/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    writeFileSync(join(dir, 'x.safetensors'), 'hello');
    expect(() => loadSafetensors(join(dir, 'x.safetensors'))).toThrow(/x\.safetensors: not a valid safetensors file/);
    expect(readFileSync(join(dir, 'x.safetensors'), 'utf8')).toBe('hello');
  });
});
