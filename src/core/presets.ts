/**
 * Presets: named sets of settings that stand in for the table's defaults (core/settings.ts) where a
 * run gives no value of its own. The table's defaults are the tuned default run; a preset is
 * another run a user may want by name. Measured in bench/README.md ("Default run and presets").
 */

export type PresetName = 'seed' | 'draft' | 'painterly';
export const PRESET_NAMES: readonly PresetName[] = ['seed', 'draft', 'painterly'];

/** What each preset is for, as the help and the README say it. */
export const PRESET_HELP: Readonly<Record<PresetName, string>> = {
  seed: "the exercise's run: its objective (α 1e4, content block5_conv2, average pooling, equal style-layer weights) and Adam (lr 0.01, β₁ 0.9, β₂ 0.99), 1000 iterations at one scale, no early stop",
  draft: 'a first look: the default schedule with a few iterations per scale',
  painterly:
    "crowsonkb/style-transfer-pytorch's recipe: W2 style loss, max pooling, layer weights 256:64:16:4:1, content block4_conv2, Adam with averaged iterates, √2 scales from 128 px (slow: 1000 + 500 per scale)",
};

/**
 * The values of each preset, by setting name (checked against the table's types in settings.ts).
 * The seed preset is the whole of the exercise's objective and optimisation, so that no change of
 * the table's defaults can alter it; the NST class takes its defaults from it.
 */
export const PRESETS = {
  seed: {
    alpha: 1e4,
    beta: 1,
    var: 10,
    styleLoss: 'gram',
    styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'],
    styleLayerWeights: 'equal',
    contentLayers: ['block5_conv2'],
    pooling: 'avg',
    optimizer: 'adam',
    lr: 0.01,
    beta1: 0.9,
    beta2: 0.99,
    iterations: 1000,
    scales: 1,
    convergence: 0,
  },
  draft: {
    iterations: [20, 20],
  },
  /**
   * crowsonkb/style-transfer-pytorch's style_transfer.py: its objective, optimiser and schedule
   * by their numbers. Its network is torchvision's VGG19 on normalised RGB, ours Keras' on
   * mean-subtracted BGR ×255, so a weight balance does not carry over exactly; its total
   * variation is a mean of squares where ours is a sum of absolute differences, so `var` is ours
   * measured for W2 (README, "The W2 style loss").
   */
  painterly: {
    styleLoss: 'w2',
    styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'],
    styleLayerWeights: [256, 64, 16, 4, 1],
    contentLayers: ['block4_conv2'],
    alpha: 0.015,
    var: 0.003,
    pooling: 'max',
    optimizer: 'adam',
    lr: 0.02,
    beta1: 0.9,
    beta2: 0.99,
    average: 0.99,
    carryMoments: true,
    scales: 'auto',
    minScale: 128,
    scaleRatio: Math.SQRT2,
    iterations: [1000, 500],
    convergence: 0,
  },
} as const;
