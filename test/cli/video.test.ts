// `nst video` through the command, with the real ffmpeg: decoding and encoding (frames, rate,
// size, audio), folders of frames both ways, precomputed flow, resume after Ctrl-C, bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFlo } from '../../src/io/flo.js';
import { readImage } from '../../src/io/images.js';
import { nst, nstAsync } from '../helpers.js';
import { assertRefused, FIRST_LAYER_ONLY, later, literal, newDir, queued, styleFile } from './runs.js';

/** Runs ffmpeg (or ffprobe) and fails the test file at load when it fails. */
function tool(name: 'ffmpeg' | 'ffprobe', args: string[]): string {
  const run = spawnSync(name, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${name} ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

/** A pan across a real photo: 6 frames of 48×36 at 6 fps, with one second of a 440 Hz tone. */
function panClip(file: string): void {
  const pan = "scale=200:150,crop=48:36:x='20+t*24':y=40,format=yuv420p";
  tool('ffmpeg', [
    ...['-v', 'error', '-y', '-loop', '1', '-i', path.join(path.dirname(styleFile), 'tubingen.jpg')],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1'],
    ...['-vf', pan, '-t', '1', '-r', '6', '-c:v', 'libx264', '-c:a', 'aac', file],
  ]);
}

/** ffprobe's view of a file's streams. */
function probe(file: string): {
  codec_type: string;
  width?: number;
  height?: number;
  r_frame_rate: string;
  nb_frames?: string;
  duration?: string;
}[] {
  const json = tool('ffprobe', ['-v', 'error', '-count_frames', '-print_format', 'json', '-show_streams', file]);
  return (JSON.parse(json) as { streams: ReturnType<typeof probe> }).streams;
}

const frameCount = (file: string) => {
  const json = tool('ffprobe', [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=nb_read_frames',
    '-of',
    'csv=p=0',
    file,
  ]);
  return Number(json.trim());
};

const pngs = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((n) => /^\d{6}\.png$/.test(n))
    .sort();

// Made when the file loads: the runs below start together when the tests do.
const inputs = newDir();
const clip = path.join(inputs, 'clip.mp4');
panClip(clip);
const frames = path.join(inputs, 'frames');
fs.mkdirSync(frames);
tool('ffmpeg', ['-v', 'error', '-i', clip, '-vf', 'scale=40:30', path.join(frames, 'f%d.png')]);
const FAST = ['--size', '32', '--iterations', '4', '--frame-iterations', '3', ...FIRST_LAYER_ONLY];

describe('nst video', () => {
  const toVideo = newDir();
  const videoOut = path.join(toVideo, 'out.mp4');
  const videoRun = later(['video', clip, styleFile, '-o', videoOut, ...FAST, '--json']);
  it('a clip to .mp4: its frames, frame rate and audio kept, at --size with even sides; one frame event each', async () => {
    const { code, stdout, stderr } = await videoRun();
    assert.equal(code, 0, stderr);
    assert.deepEqual(fs.readdirSync(toVideo), ['out.mp4'], 'the work folder is gone');
    const streams = probe(videoOut);
    const video = streams.find((s) => s.codec_type === 'video')!;
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.deepEqual([video.width, video.height, video.r_frame_rate], [32, 24, '6/1']);
    assert.equal(frameCount(videoOut), 6);
    assert.ok(audio && Math.abs(Number(audio.duration) - 1) < 0.1, `audio ${audio?.duration} s`);
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; frame?: number });
    assert.deepEqual(
      events.filter((e) => e.event === 'frame').map((e) => e.frame),
      [1, 2, 3, 4, 5, 6],
    );
  });

  const toFolder = newDir();
  const folderOut = path.join(toFolder, 'out') + path.sep;
  const folderRun = later(['video', frames, styleFile, '-o', folderOut, ...FAST, '--temporal-weight', '0', '-q']);
  it('a folder of frames to a folder: numbered PNG frames of the working size, nothing else left', async () => {
    const { code, stderr } = await folderRun();
    assert.equal(code, 0, stderr);
    const names = fs.readdirSync(folderOut).sort();
    const made = ['000001.png', '000002.png', '000003.png', '000004.png', '000005.png', '000006.png'];
    assert.deepEqual(names, ['.nst-video.json', ...made], 'the frames and the record of what made them');
    const [first] = probe(path.join(folderOut, made[0]!));
    assert.deepEqual([first!.width, first!.height], [32, 24]);
    const again = nst([
      'video',
      frames,
      styleFile,
      '-o',
      folderOut,
      ...FAST,
      '--temporal-weight',
      '0',
      '--alpha',
      '7',
      '-q',
    ]);
    assert.equal(again.code, 2, 'the same folder with other settings is refused');
    assert.match(again.stderr, /holds frames of another run/);
  });

  const toGif = newDir();
  const gifOut = path.join(toGif, 'out.gif');
  const gifRun = later(['video', frames, styleFile, '-o', gifOut, ...FAST, '--fps', '4', '-q']);
  it('a folder of frames to .gif at --fps', async () => {
    const { code, stderr } = await gifRun();
    assert.equal(code, 0, stderr);
    const [video] = probe(gifOut);
    assert.equal(video!.r_frame_rate, '4/1');
    assert.equal(frameCount(gifOut), 6);
  });

  const flows = newDir();
  for (let t = 2; t <= 6; t++) {
    const zero = { width: 16, height: 12, u: new Float32Array(16 * 12), v: new Float32Array(16 * 12) };
    writeFlo(path.join(flows, `backward_${t}_${t - 1}.flo`), zero);
    writeFlo(path.join(flows, `forward_${t - 1}_${t}.flo`), zero);
  }
  const fromFlo = newDir();
  const floRun = later([
    'video',
    clip,
    styleFile,
    '-o',
    path.join(fromFlo, 'out.mkv'),
    ...FAST,
    '--size',
    '33',
    '--flow-dir',
    flows,
    '-q',
  ]);
  it('--flow-dir reads Middlebury .flo files (of another size: resized); an odd --size gives even sides', async () => {
    const { code, stderr } = await floRun();
    assert.equal(code, 0, stderr);
    const output = path.join(fromFlo, 'out.mkv');
    assert.equal(frameCount(output), 6);
    const [video] = probe(output);
    assert.deepEqual([video!.width, video!.height], [32, 24]);
  });
});

/** The mean |out_t(p) − out_{t−1}(p + pan)| over a folder's frames, in levels: how far each frame is from the last one moved by the pan. */
async function warpError(dir: string, pan: number): Promise<number> {
  let [sum, n] = [0, 0];
  let previous: Float32Array | null = null;
  for (const name of pngs(dir)) {
    const image = await readImage(path.join(dir, name));
    const [h, w] = image.shape;
    const data = (await image.data()) as Float32Array;
    image.dispose();
    if (previous)
      for (let y = 0; y < h; y++)
        for (let x = 0; x + pan < w; x++)
          for (let c = 0; c < 3; c++, n++)
            sum += Math.abs(data[(y * w + x) * 3 + c]! - previous[(y * w + x + pan) * 3 + c]!);
    previous = data;
  }
  return sum / n;
}

describe('the temporal cost', () => {
  // Five frames of a photo panned by exactly 2 px a frame (the scene moves left).
  const panned = newDir();
  for (let t = 0; t < 5; t++) {
    const crop = `scale=160:120,crop=48:36:${20 + 2 * t}:40`;
    tool('ffmpeg', [
      '-v',
      'error',
      '-i',
      path.join(path.dirname(styleFile), 'tubingen.jpg'),
      '-vf',
      crop,
      path.join(panned, `f${t}.png`),
    ]);
  }
  const budget = ['--size', '48', '--iterations', '30', '--frame-iterations', '20'];
  const [independent, followed] = [newDir(), newDir()];
  const independentRun = later([
    'video',
    panned,
    styleFile,
    '-o',
    independent + path.sep,
    ...budget,
    '--temporal-weight',
    '0',
    '-q',
  ]);
  const followedRun = later(['video', panned, styleFile, '-o', followed + path.sep, ...budget, '-q']);
  it('at the default weight, each frame follows the last one moved by the pan: under half the warp error of independent frames', async () => {
    for (const run of [await independentRun(), await followedRun()]) assert.equal(run.code, 0, run.stderr);
    const [apart, together] = [await warpError(independent, 2), await warpError(followed, 2)];
    assert.ok(
      together < apart / 2,
      `warp error ${together.toFixed(2)} levels with the temporal cost, ${apart.toFixed(2)} without`,
    );
  });
});

describe('nst video, interrupted and run again', () => {
  const dir = newDir();
  const output = path.join(dir, 'out.mp4');
  const args = [
    'video',
    clip,
    styleFile,
    '-o',
    output,
    '--size',
    '32',
    '--iterations',
    '4',
    '--frame-iterations',
    '400',
    '--converge',
    '0',
    ...FIRST_LAYER_ONLY,
    '--json',
  ];
  const first = queued(() => {
    let sent = false;
    return nstAsync(args, (stdout, child) => {
      if (!sent && /"event":"frame".*"frame":2,/.test(stdout)) sent = child.kill('SIGINT');
    });
  });
  it('Ctrl-C: exit 130, the frames done written as a shorter video, the work folder kept; again: goes on and finishes', async () => {
    const stopped = await first();
    assert.equal(stopped.code, 130, stopped.stderr);
    const work = path.join(dir, '.out.mp4.nst-frames');
    const done = pngs(work).length;
    assert.ok(done >= 2 && done < 6, `${done} frames done`);
    assert.equal(frameCount(output), done);
    const again = await nstAsync(args);
    assert.equal(again.code, 0, again.stderr);
    const start = again.stdout.split('\n').find((line) => line.includes('"event":"start"'))!;
    assert.equal((JSON.parse(start) as { first: number }).first, done, 'goes on at the first missing frame');
    const made = again.stdout.split('\n').filter((line) => line.includes('"event":"frame"')).length;
    assert.equal(made, 6 - done);
    assert.equal(frameCount(output), 6);
    assert.deepEqual(fs.readdirSync(dir), ['out.mp4']);
  });
});

describe('nst video refuses bad input: one line, exit 2, nothing written', () => {
  const bad = newDir();
  const notVideo = path.join(bad, 'notes.mp4');
  fs.writeFileSync(notVideo, 'not a video\n');
  const empty = path.join(bad, 'empty');
  fs.mkdirSync(empty);
  const mixed = path.join(bad, 'mixed');
  fs.mkdirSync(mixed);
  tool('ffmpeg', ['-v', 'error', '-i', clip, '-frames:v', '1', '-vf', 'scale=40:30', path.join(mixed, 'a.png')]);
  tool('ffmpeg', ['-v', 'error', '-i', clip, '-frames:v', '1', '-vf', 'scale=20:30', path.join(mixed, 'b.png')]);
  const vfr = path.join(bad, 'vfr.mp4');
  tool('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=10', '-frames:v', '8'],
    ...['-vf', "setpts='if(lt(N,5),N*0.1,0.5+(N-5)*0.3)/TB'", '-fps_mode', 'vfr', '-c:v', 'libx264', vfr],
  ]);
  const huge = path.join(bad, 'huge.mp4');
  tool('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=1600x1200:rate=5',
    '-frames:v',
    '2',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    huge,
  ]);
  const badFlows = newDir();
  fs.writeFileSync(path.join(badFlows, 'backward_2_1.flo'), 'garbage');
  fs.writeFileSync(path.join(badFlows, 'forward_1_2.flo'), 'garbage');

  const cases: [string, string[], RegExp, NodeJS.ProcessEnv?][] = [
    ['not a video', [notVideo], /input .*notes\.mp4: not a video ffprobe can read/],
    ['a folder without frames', [empty], /holds no image frames/],
    ['frames of different sizes in a folder', [mixed], /differ in size: .*a\.png is 40×30 px, .*b\.png is 20×30 px/],
    ['a variable frame rate', [vfr], /has a variable frame rate/],
    ['an output that is the input', [clip, '-o', clip], literal(`would overwrite the input video ${clip}`)],
    [
      'an output that is not a video or a folder',
      [clip, '-o', 'OUT/out.avi'],
      /name a video \(\.mp4, \.webm, \.mkv, \.gif\) or a folder/,
    ],
    ['no ffmpeg on the PATH', [clip], /ffprobe not found: .*apt-get install ffmpeg/, { PATH: '/nonexistent' }],
    ['a style image that is not one', [clip, '--style', notVideo], /style image .*notes\.mp4: not an image/],
    [
      'a .flo file that is not one',
      [clip, '--flow-dir', badFlows],
      /flow file .*backward_2_1\.flo: not a Middlebury \.flo file/,
    ],
  ];
  for (const [name, given, message, env] of cases) {
    const out = newDir();
    const [input, ...rest] = given;
    const output = rest[0] === '-o' ? rest[1]!.replace('OUT', out) : path.join(out, 'out.mp4');
    const extra = rest[0] === '-o' ? rest.slice(2) : rest;
    const style = extra[0] === '--style' ? extra[1]! : styleFile;
    const flags = extra[0] === '--style' ? extra.slice(2) : extra;
    const run = later(['video', input!, style, '-o', output, ...FAST, ...flags], { env });
    it(name, async () => assertRefused(await run(), message, { dir: out }));
  }

  // A portrait clip as phones store it: landscape pixels and a display rotation of 90°.
  const turned = path.join(bad, 'turned.mp4');
  tool('ffmpeg', ['-v', 'error', '-i', clip, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', turned]);
  const sized: [string, string, [number, number]][] = [
    ['a clip turned a quarter is stylised upright', turned, [24, 32]],
    ['a huge resolution is shrunk as it is read', huge, [32, 24]],
  ];
  for (const [name, input, size] of sized) {
    const out = newDir();
    const run = later(['video', input, styleFile, '-o', path.join(out, 'f') + path.sep, ...FAST, '-q']);
    it(name, async () => {
      const { code, stderr } = await run();
      assert.equal(code, 0, stderr);
      const [frame] = probe(path.join(out, 'f', '000001.png'));
      assert.deepEqual([frame!.width, frame!.height], size);
    });
  }
});
