/** `nst weights path|fetch|verify`: where the weights are, downloading them, checking a file. */
import * as fs from 'node:fs';
import cliProgress from 'cli-progress';
import { VGG19_CONV_SPECS } from '../engine/vgg19.js';
import { InputError } from '../errors.js';
import {
  cachedWeightsPath,
  downloadFirst,
  locateWeights,
  md5File,
  verifyWeightsFile,
  WEIGHTS_MD5,
  WEIGHTS_URLS,
  type WeightsLocation,
} from '../io/weights.js';

/** Lines that scripts read go to stdout. */
const print = (line: string) => process.stdout.write(`${line}\n`);
const isFile = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;

const SOURCE_TEXT: Record<WeightsLocation['source'], string> = {
  explicit: 'from --weights',
  env: 'from NST_WEIGHTS',
  cache: 'cached download',
  download: 'downloaded',
};

/**
 * Path on stdout (so scripts can use it), explanations on stderr. InputError (bad path, bad file)
 * and download failures are thrown for the CLI's error handling.
 */
export async function weightsCommand(
  action: 'path' | 'fetch' | 'verify',
  args: { file?: string; url?: string; md5?: string; weights?: string; quiet?: boolean },
): Promise<number> {
  const say = (line: string): void => {
    if (!args.quiet) process.stderr.write(`${line}\n`);
  };
  switch (action) {
    case 'path': {
      const found = locateWeights(args.weights);
      if (found) {
        print(found.path);
        say(`(${SOURCE_TEXT[found.source]})`);
      } else {
        print(cachedWeightsPath());
        say('(not downloaded yet: the first run downloads it there, or run `nst weights fetch`)');
      }
      return 0;
    }
    case 'fetch': {
      const md5 = (args.md5 ?? WEIGHTS_MD5).toLowerCase();
      if (!/^[0-9a-f]{32}$/.test(md5)) throw new InputError(`--md5 ${args.md5}: not an md5 hash (32 hex digits)`);
      const dest = cachedWeightsPath();
      if (!args.url && isFile(dest) && (await md5File(dest)) === md5) {
        say('already downloaded, md5 ok');
        print(dest);
        return 0;
      }
      const progress = progressReporter(!args.quiet && process.stderr.isTTY === true);
      // A failed mirror is reported below the bar, not across it.
      const log = (line: string): void => {
        progress.stop();
        say(line);
      };
      try {
        await downloadFirst(args.url ? [args.url] : WEIGHTS_URLS, dest, md5, progress.update, log);
      } finally {
        progress.stop();
      }
      say(`downloaded ${megabytes(progress.received())} MB, md5 ok`);
      print(dest);
      return 0;
    }
    case 'verify': {
      const file = args.file ?? locateWeights(args.weights)?.path;
      if (!file)
        throw new InputError('no weights file to verify: give FILE (none via --weights, NST_WEIGHTS or the cache)');
      const summary = await verifyWeightsFile(file, VGG19_CONV_SPECS);
      print(`file: ${summary.path}`);
      print(
        `layers: ${summary.layers} conv layers with VGG19 shapes, ` +
          `${summary.parameters.toLocaleString('en-US')} parameters`,
      );
      const match = summary.md5MatchesOfficial
        ? 'matches the official Keras file'
        : `differs from the official Keras file (${WEIGHTS_MD5})`;
      print(`md5: ${summary.md5} ${match}`);
      return 0;
    }
  }
}

function megabytes(bytes: number): number {
  return Math.round(bytes / 1e5) / 10;
}

/** A cli-progress bar in MB on stderr, (re)created on the next byte after stop(); only counts when disabled. */
function progressReporter(enabled: boolean): {
  update: (received: number, total: number | null) => void;
  stop: () => void;
  received: () => number;
} {
  let bar: cliProgress.SingleBar | null = null;
  let last = 0;
  return {
    update(received, total) {
      last = received;
      if (!enabled) return;
      if (!bar) {
        const format = total ? 'VGG19 weights [{bar}] {percentage}% {value}/{total} MB' : 'VGG19 weights {value} MB';
        bar = new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true });
        bar.start(total ? megabytes(total) : 0, 0);
      }
      bar.update(megabytes(received));
    },
    stop() {
      bar?.stop();
      bar = null;
    },
    received: () => last,
  };
}
