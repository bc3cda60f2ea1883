// Image grids: size from rows, columns, scale and captions; pixels enlarged without blurring.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imageGrid, neighbourGrid, thumbnailScale } from '../../src/report/index.js';

/** A 4×4 gray image: a black square in the top-left 2×2 on white. */
function square(): Uint8Array {
  const img = new Uint8Array(16).fill(255);
  for (const i of [0, 1, 4, 5]) img[i] = 0;
  return img;
}

describe('imageGrid', () => {
  it('lays out rows of enlarged images without captions', async () => {
    const png = await imageGrid([{ images: [square(), square(), square()] }, { images: [square()] }], {
      height: 4,
      width: 4,
      channels: 1,
      scale: 5,
      gap: 2,
    });
    const meta = await sharp(png).metadata();
    // 3 columns of 20 px with 2 px gaps; 2 rows of 20 px with 2 px gaps below each.
    expect(meta.width).toBe(2 + 3 * (20 + 2));
    expect(meta.height).toBe(2 + 2 * (20 + 2));
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[(y * info.width + x) * info.channels];
    // Nearest-neighbour enlargement: the dark square fills 10×10 screen pixels exactly.
    expect(at(2, 2)).toBe(0);
    expect(at(11, 11)).toBe(0);
    expect(at(12, 12)).toBe(255);
    // Background beyond the single image of row 2.
    expect(at(30, 30)).toBe(255);
  });

  it('widens cells for captions and draws them', async () => {
    const rgb = new Uint8Array(2 * 2 * 3).fill(200);
    const plain = await imageGrid([{ images: [rgb, rgb] }], { height: 2, width: 2, channels: 3, scale: 8 });
    const captioned = await imageGrid([{ images: [rgb, rgb], captions: ['#1234 rank 1', 'neighbour'] }], {
      height: 2,
      width: 2,
      channels: 3,
      scale: 8,
    });
    const a = await sharp(plain).metadata();
    const b = await sharp(captioned).metadata();
    expect(b.width).toBeGreaterThan(a.width);
    expect(b.height).toBe(a.height + 16);
    // Caption text is dark ink on the white background.
    const strip = await sharp(captioned)
      .extract({ left: 0, top: b.height - 16, width: b.width, height: 16 })
      .stats();
    expect(strip.channels[0].min).toBeLessThan(120);
  });

  it('rejects images of the wrong size and empty grids', async () => {
    await expect(imageGrid([{ images: [new Uint8Array(5)] }], { height: 2, width: 2, channels: 1 })).rejects.toThrow(
      /row 0 image 0 has 5 bytes, expected 2×2×1/,
    );
    await expect(imageGrid([{ images: [] }], { height: 2, width: 2, channels: 1 })).rejects.toThrow(/no images/);
    await expect(imageGrid([], { height: 2, width: 2, channels: 5 })).rejects.toThrow(/channels/);
  });

  it('lays out each example of a set beside its neighbours, the example set apart', async () => {
    const set = {
      images: Uint8Array.from({ length: 6 * 8 * 8 }, (_, i) => (i < 2 * 64 ? 0 : 255)),
      n: 6,
      height: 8,
      width: 8,
      channels: 1,
      labels: null,
      numClasses: 0,
    };
    expect(thumbnailScale(set)).toBe(12);
    const rows = [
      { index: 0, neighbours: [1, 2, 3] },
      { index: 4, neighbours: [5, 0, 1] },
    ];
    const png = await neighbourGrid(set, rows, { isPoison: [0, 0, 0, 0, 0, 1], scale: 2 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // Four columns of equal cells (widened for captions) after a 6 px margin, with 12 px more after the
    // first; rows of a 16 px image and a 16 px caption.
    const cell = (info.width - 6 - 12) / 4 - 6;
    expect(Number.isInteger(cell) && cell >= 16).toBe(true);
    expect(info.height).toBe(6 + 2 * (16 + 16 + 6));
    const pixel = (x: number, y: number) => data[(y * info.width + x) * info.channels];
    expect(pixel(6 + cell / 2, 6 + 8)).toBe(0); // example 0 is black
    const neighbourLeft = 6 + cell + 6 + 12 + (cell - 16) / 2; // neighbour 1, black, shifted by the extra gap
    expect(pixel(neighbourLeft, 6 + 8)).toBe(0);
    expect(pixel(neighbourLeft - 1, 6 + 8)).toBe(255);
    expect(pixel(neighbourLeft + 16 + cell, 6 + 8)).toBe(255); // neighbour 2 is white
    await expect(neighbourGrid(set, [{ index: 6, neighbours: [] }])).rejects.toThrow(
      /example 6 is not in the set of 6/,
    );
  });
});
