// The transfer attack's minimal perturbation against a linear model whose answer is known in
// closed form: the smallest L2 step that flips the decision is along the weight vector.
import { describe, expect, it } from 'vitest';
import { minimalPerturbation } from '../../src/attack/index.js';
import { Mlp } from '../../src/nn/index.js';
import { noGrad, tensor, tidy } from '../../src/tensor/index.js';

describe('minimal perturbation (section 4.3)', () => {
  it('finds the near-minimal step that makes θ_init label the target y*', () => {
    // z0 = 0.5·Σx, z1 = −0.5·Σx + 4: class 1 wins when Σx < 4 (less the margin).
    const model = new Mlp({ inFeatures: 16, hidden: [], numClasses: 2 });
    model.loadStateDict({
      'fc.weight': tensor([...new Array(16).fill(0.5), ...new Array(16).fill(-0.5)], [2, 16]),
      'fc.bias': tensor([0, 4]),
    });
    const norm = { mean: [0], std: [1] };
    const target = new Uint8Array(16).fill(100); // Σx = 6.27: class 0
    const shape = { height: 4, width: 4, channels: 1 };
    const p = minimalPerturbation(model, target, shape, 1, norm, { steps: 300, lr: 0.02 });
    expect(p.success).toBe(true);
    /** The model's logits on an 8-bit 4×4 image. */
    const logits = (image: Uint8Array): Float32Array =>
      noGrad(() =>
        tidy(() =>
          model
            .forward(
              tensor(
                Array.from(image, (v) => v / 255),
                [1, 1, 4, 4],
              ),
            )
            .toFloat32(),
        ),
      );
    const zp = logits(p.image);
    expect(zp[1] - zp[0]).toBeGreaterThanOrEqual(0.5); // the default margin
    // Closed form: Σx must drop by 6.27 − (4 − 0.5) = 2.77, spread evenly: ‖δ‖ = 2.77 / 4 = 0.69.
    expect(p.distance).toBeGreaterThan(0.6);
    expect(p.distance).toBeLessThan(0.95);
    // A larger margin is kept after 8-bit quantisation: Σx ≤ 4 − 2 needs ‖δ‖ ≥ (6.27 − 2) / 4 = 1.07.
    const confident = minimalPerturbation(model, target, shape, 1, norm, { steps: 300, lr: 0.02, margin: 2 });
    expect(confident.success).toBe(true);
    const z = logits(confident.image);
    expect(z[1] - z[0]).toBeGreaterThanOrEqual(2);
    expect(confident.distance).toBeGreaterThan(1.06);
    expect(() => minimalPerturbation(model, target, shape, 5, norm)).toThrow(/not a class/);
    expect(() => minimalPerturbation(model, new Uint8Array(3), shape, 1, norm)).toThrow(/3 pixels, expected 16/);
    model.dispose();
  });
});
