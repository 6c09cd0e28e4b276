import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../src/core/presets.js';
import { resolveRunSettings, SETTINGS, withDefaults } from '../../src/core/settings.js';
import { InputError } from '../../src/errors.js';

describe('presets', () => {
  it("are the table's defaults without one: L-BFGS, coarse-to-fine, a convergence stop", () => {
    const s = resolveRunSettings({}, 1);
    assert.equal(s.optimizer, 'lbfgs');
    assert.deepEqual(s.scales, [256, 512], 'auto: two scales at 512 px');
    assert.deepEqual(s.iterations, [60, 185]);
    assert.ok(s.convergence > 0);
    const small = resolveRunSettings({ size: 300 }, 1);
    assert.deepEqual(
      [small.scales, small.iterations],
      [
        [150, 300],
        [60, 185],
      ],
      'auto: one halving below 256 px',
    );
    const smaller = resolveRunSettings({ size: 250 }, 1);
    assert.deepEqual([smaller.scales, smaller.iterations], [[250], [185]], 'auto: none below 128 px, the last counts');
    assert.deepEqual(resolveRunSettings({ size: 256 }, 1).scales, [128, 256]);
    assert.deepEqual(resolveRunSettings({ size: 1024, iterations: [60, 100, 200] }, 1).scales, [256, 512, 1024]);
    assert.deepEqual(
      resolveRunSettings({ size: 768, iterations: [9, 5, 3] }, 1).scales,
      [384, 768],
      'halvings below 256 px only from below 512 px',
    );
    assert.deepEqual(resolveRunSettings({ size: 1024, iterations: 3 }, 1).scales, [256, 512, 1024], 'a total: up to 3');
    assert.deepEqual(
      resolveRunSettings({ size: 1024, iterations: 2 }, 1).scales,
      [512, 1024],
      'no more than iterations',
    );
    assert.deepEqual(resolveRunSettings({ size: 2048, iterations: [9, 5, 3, 1] }, 1).scales, [256, 512, 1024, 2048]);
  });

  it("seed is exactly the exercise's run", () => {
    const s = resolveRunSettings({ preset: 'seed' }, 1);
    const { optimizer, lr, beta1, beta2, iterations, scales, convergence, size, alpha, beta } = s;
    const { pooling, styleLoss, styleLayers, styleLayerWeights, contentLayers } = s;
    assert.deepEqual(
      { optimizer, lr, beta1, beta2, iterations, scales, convergence, size, alpha, beta, var: s.var },
      {
        optimizer: 'adam',
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.99,
        iterations: [1000],
        scales: [512],
        convergence: 0,
        size: 512,
        alpha: 1e4,
        beta: 1,
        var: 10,
      },
    );
    assert.deepEqual(
      { pooling, styleLoss, styleLayers, styleLayerWeights, contentLayers },
      {
        pooling: 'avg',
        styleLoss: 'gram',
        styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'],
        styleLayerWeights: [0.2, 0.2, 0.2, 0.2, 0.2],
        contentLayers: ['block5_conv2'],
      },
      "the exercise's objective, whatever the defaults",
    );
  });

  it('weight the style layers falling by 4 unless told equal or given a list', () => {
    const weights = (options: Parameters<typeof resolveRunSettings>[0]) =>
      resolveRunSettings(options, 1).styleLayerWeights;
    const sum = 256 + 64 + 16 + 4 + 1;
    assert.deepEqual(weights({}), [256 / sum, 64 / sum, 16 / sum, 4 / sum, 1 / sum]);
    assert.deepEqual(weights({ styleLayers: ['block1_conv1', 'block3_conv1', 'block4_conv1'] }), [
      16 / 21,
      4 / 21,
      1 / 21,
    ]);
    assert.deepEqual(
      weights({ styleLayers: ['block1_conv1', 'block2_conv1'], styleLayerWeights: 'equal' }),
      [0.5, 0.5],
    );
    assert.deepEqual(
      weights({ styleLayers: ['block1_conv1', 'block2_conv1'], styleLayerWeights: [3, 1] }),
      [0.75, 0.25],
    );
    assert.throws(
      () => weights({ styleLayerWeights: 'steep' as never }),
      (e: unknown) => e instanceof InputError && /styleLayerWeights must be equal, falling or a list/.test(e.message),
    );
  });

  it('give way to the settings given, and fill in only what is not', () => {
    const s = resolveRunSettings({ preset: 'seed', iterations: 50, size: 256 }, 1);
    assert.deepEqual([s.optimizer, s.iterations, s.scales], ['adam', [50], [256]]);
    const lbfgs = resolveRunSettings({ preset: 'seed', optimizer: 'lbfgs' }, 1);
    assert.deepEqual([lbfgs.optimizer, lbfgs.iterations, lbfgs.lr], ['lbfgs', [1000], 0.01]);
    // Every value a preset sets is a value of its setting.
    for (const [name, values] of Object.entries(PRESETS)) {
      for (const [key, value] of Object.entries(values)) {
        const spec = SETTINGS[key as keyof typeof SETTINGS] as { check: (x: unknown) => string | null };
        assert.equal(spec.check(value), null, `${name}.${key}`);
      }
    }
    assert.deepEqual(resolveRunSettings({ preset: 'draft' }, 1).optimizer, 'lbfgs');
  });

  it('refuses an unknown preset, naming it', () => {
    assert.throws(
      () => withDefaults({ preset: 'fast' as never }),
      (e: unknown) => e instanceof InputError && /preset must be seed, draft/.test(e.message),
    );
  });
});
