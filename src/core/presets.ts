/**
 * Presets: named sets of settings that stand in for the table's defaults (core/settings.ts) where a
 * run gives no value of its own. The table's defaults are the tuned default run; a preset is
 * another run a user may want by name. Measured in bench/README.md ("Default run and presets").
 */

export type PresetName = 'seed' | 'draft';
export const PRESET_NAMES: readonly PresetName[] = ['seed', 'draft'];

/** What each preset is for, as the help and the README say it. */
export const PRESET_HELP: Readonly<Record<PresetName, string>> = {
  seed: "the exercise's run: Adam (lr 0.01, β₁ 0.9, β₂ 0.99), 1000 iterations at one scale, no early stop",
  draft: 'a first look: the default schedule with a few iterations per scale',
};

/**
 * The values of each preset, by setting name (checked against the table's types in settings.ts).
 * The seed preset is the whole of the exercise's optimisation, so that no later change of the
 * table's defaults can alter it; NST.generateImage takes its defaults from it too.
 */
export const PRESETS = {
  seed: {
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
} as const;
