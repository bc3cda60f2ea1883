// 1000 training steps leave the live-tensor count and the process RSS flat.
import { describe, expect, it } from 'vitest';
import {
  crossEntropy,
  liveTensors,
  manualSeed,
  randint,
  randn,
  tidy,
  yieldToEventLoop,
} from '../../src/tensor/index.js';
import { Ema, Sgd, SmallCnn } from '../../src/nn/index.js';

describe('leaks', () => {
  it('1000 SGD steps with EMA keep the live-tensor count and RSS flat', async () => {
    manualSeed(0);
    const model = new SmallCnn({ width: 4 });
    const shadow = new SmallCnn({ width: 4 });
    const ema = new Ema(model, shadow, { decay: 0.99 });
    const opt = new Sgd(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    const x = randn([8, 1, 12, 12]);
    const y = randint(0, 10, [8]);
    const step = (): void =>
      tidy(() => {
        opt.zeroGrad();
        const loss = crossEntropy(model.forward(x), y);
        loss.backward();
        opt.update();
        ema.update();
        shadow.forward(x).softmax(1).data();
      });
    for (let i = 0; i < 500; i++) {
      step();
      await yieldToEventLoop();
    }
    const live = liveTensors();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) {
      step();
      await yieldToEventLoop();
    }
    expect(liveTensors()).toBe(live);
    // Allocator noise stays well below what 1000 leaked steps would hold (one 18 kB activation a step would be 18 MB).
    // Steps yield to the event loop, where Node-API runs the finalizers of collected handle objects.
    expect(process.memoryUsage().rss - rss).toBeLessThan(6 * 1024 * 1024);
  });
});
