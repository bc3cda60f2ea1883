// Craft a 1% interpolation bridge against a Fashion-MNIST split, append it to the unlabeled set,
// and scan that set without labels: where do the poisons rank?
import {
  autoFlags,
  collinearScores,
  concatImageSets,
  craftPoisons,
  evaluateFlags,
  imagesToUnit,
  loadDataset,
  splitDataset,
  tidy,
} from 'semipoison';

const train = await loadDataset('fashion-mnist', 'train');
const test = await loadDataset('fashion-mnist', 'test');
const split = splitDataset(train, { labels: 40, unlabeled: 2000, seed: 0 });

// Test image #9 (a sneaker) should become a trouser (class 1).
const { poisons, manifest } = craftPoisons(
  { test, labeled: split.labeled, unlabeledSize: split.unlabeled.n },
  { targetIndex: 9, desired: 1, ratio: 0.01, seed: 0 },
);
const unlabeled = concatImageSets([split.unlabeled, poisons]);

const scores = tidy(() => collinearScores(imagesToUnit(unlabeled).flatten(1)));
const truth = new Uint8Array(unlabeled.n).fill(1, split.unlabeled.n);
const result = evaluateFlags(scores, 'low', autoFlags(scores, 'low'), truth);
console.log(`${manifest.count} poisons among ${unlabeled.n} images`);
console.log(
  `collinearity flags ${result.truePositives} of them, ${result.falsePositives} clean images, AUROC ${result.auroc.toFixed(3)}`,
);
