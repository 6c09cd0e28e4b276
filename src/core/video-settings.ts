/**
 * The settings of a video run beside the per-frame run settings (settings.ts): the temporal cost,
 * the later frames' budget, precomputed flow, a folder's frame rate. One table, as settings.ts
 * keeps its own: the command's flags and the library's defaults derive from it.
 */
import {
  nonNegative,
  optional,
  parseNumber,
  parseText,
  positive,
  positiveInt,
  setting,
  tableValues,
  type Check,
  type Setting,
} from './settings.js';

const folder: Check<string> = (x) => (typeof x === 'string' && x.trim() !== '' ? null : 'must be a folder');

export const VIDEO_SETTINGS = {
  temporalWeight: setting<number>()({
    // At 256 px on a panned clip: warp error 2.25 levels against 26.25 for independent frames, the
    // later frames converging in ~37 iterations (bench/README.md, "Video"). It weighs a mean of
    // squared pixel differences against the default objective's costs (1e8 and more): raise it
    // with alpha and beta.
    default: 1e10,
    check: nonNegative,
    flag: {
      name: 'temporal-weight',
      arg: '<w>',
      help: 'weight of the temporal cost: how closely each frame follows the previous one carried by the optical flow (0: frames independent)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  frameIterations: setting<number>()({
    default: 100,
    check: positiveInt,
    flag: {
      name: 'frame-iterations',
      arg: '<n>',
      help: 'most optimisation steps of each frame after the first, at --size from the previous result warped by the flow (the first gets the full schedule)',
    },
    parse: parseNumber,
    shapes: true,
  }),
  flowDir: setting<string | undefined>()({
    default: undefined,
    check: optional(folder),
    flag: {
      name: 'flow-dir',
      arg: '<dir>',
      help: 'read the optical flow from Middlebury .flo files instead of computing it: backward_T_S.flo and forward_S_T.flo for frames S = T - 1 and T (numbered from 1)',
    },
    parse: parseText,
    shapes: true,
  }),
  fps: setting<number>()({
    default: 25,
    check: positive,
    flag: { name: 'fps', arg: '<n>', help: 'frame rate of an input folder of frames' },
    parse: parseNumber,
    shapes: true,
  }),
};

export type VideoSettingName = keyof typeof VIDEO_SETTINGS;
export const VIDEO_SETTING_NAMES = Object.keys(VIDEO_SETTINGS) as VideoSettingName[];
type ValueOf<S> = S extends Setting<infer T> ? T : never;
export type VideoSettings = { -readonly [K in VideoSettingName]: ValueOf<(typeof VIDEO_SETTINGS)[K]> };

/** The table's defaults with `given` over them, each checked: an InputError names the first bad one. */
export function videoSettings(given: Partial<VideoSettings> = {}): VideoSettings {
  return tableValues(VIDEO_SETTINGS, given) as VideoSettings;
}
