/**
 * Videos in and out through the `ffmpeg` and `ffprobe` on the PATH: what a clip holds (size,
 * frame rate, frames, audio), its frames decoded as PNG files at a working size, and PNG frames
 * encoded into a container chosen by the output's extension with the input's audio track.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { oneLine, trackTemporary } from './atomic.js';

/** The containers `nst video` writes, by extension. */
export const VIDEO_EXTENSIONS = ['.mp4', '.webm', '.mkv', '.gif'] as const;
export type VideoExtension = (typeof VIDEO_EXTENSIONS)[number];

/** What a clip holds, as ffprobe reads it. */
export interface VideoInfo {
  /** As the frames are shown (and decoded): a clip turned a quarter has its sides swapped. */
  width: number;
  height: number;
  /** The frame rate as ffprobe gives it ("30000/1001"), and as a number. */
  rate: string;
  fps: number;
  frames: number;
  /** Whether it has an audio stream (the output keeps the first). */
  audio: boolean;
}

/** The frame file name of frame `index` (0-based) in a folder of frames: 000001.png, … */
export const frameName = (index: number) => `${String(index + 1).padStart(6, '0')}.png`;
/** ffmpeg's pattern of those names. */
const FRAME_PATTERN = '%06d.png';

const MISSING = 'nst video needs ffmpeg and ffprobe on the PATH (Debian and Ubuntu: apt-get install ffmpeg)';

/** Runs a tool and gives its stdout; a missing tool is an InputError, a failure an Error with its stderr's last line. */
function runTool(tool: 'ffmpeg' | 'ffprobe', args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new InputError(`${tool} not found: ${MISSING}`) : error),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${tool} failed: ${oneLine(stderr.trim().split('\n').at(-1) ?? `exit code ${code}`)}`));
    });
  });
}

/** Checks that ffmpeg and ffprobe run: an InputError naming the package if not. */
export async function checkVideoTools(): Promise<void> {
  await runTool('ffprobe', ['-version']);
  await runTool('ffmpeg', ['-version']);
}

/** "30000/1001" → 29.97…; NaN for what is not a positive rate. */
function rateOf(text: string | undefined): number {
  const [num, den] = (text ?? '').split('/').map(Number);
  const rate = den === undefined ? num! : num! / den;
  return Number.isFinite(rate) && rate > 0 ? rate : NaN;
}

interface ProbedStream {
  codec_type?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  side_data_list?: { rotation?: number }[];
  tags?: { rotate?: string };
}

/** Whether a stream is shown turned a quarter (a phone's portrait clip): ffmpeg decodes it upright, sides swapped. */
function quarterTurned(stream: ProbedStream): boolean {
  const rotation =
    stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? Number(stream.tags?.rotate ?? 0);
  return Math.abs(rotation) % 180 === 90;
}

/**
 * What `file` holds. An InputError when it is not a video (no video stream, or ffprobe cannot read
 * it), has no frames, or a variable frame rate (the presentation times of its frames are not evenly
 * spaced: the output could not keep its timing).
 */
export async function probeVideo(file: string): Promise<VideoInfo> {
  let streams: ProbedStream[];
  try {
    const json = await runTool('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', file]);
    streams = (JSON.parse(json) as { streams?: ProbedStream[] }).streams ?? [];
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`input ${file}: not a video ffprobe can read (${oneLine(error)})`, { file });
  }
  const video = streams.find((s) => s.codec_type === 'video');
  if (!video?.width || !video.height) throw new InputError(`input ${file}: has no video stream`, { file });
  const times = await frameTimes(file);
  if (times.length === 0) throw new InputError(`input ${file}: has no video frames`, { file });
  const rate = video.r_frame_rate ?? '';
  const fps = rateOf(rate);
  if (!Number.isFinite(fps) || !evenlySpaced(times, 1 / fps)) {
    throw new InputError(
      `input ${file}: has a variable frame rate; convert it to a constant one first (ffmpeg -i IN -fps_mode cfr OUT)`,
      { file },
    );
  }
  const audio = streams.some((s) => s.codec_type === 'audio');
  const [width, height] = quarterTurned(video) ? [video.height, video.width] : [video.width, video.height];
  return { width, height, rate, fps, frames: times.length, audio };
}

/**
 * The presentation times of the first video stream's frames, in order, from its packets (no
 * decoding): those flagged to be discarded (D, before a cut made without re-encoding) left out.
 */
async function frameTimes(file: string): Promise<number[]> {
  const entries = ['-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0'];
  const text = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', ...entries, file]);
  return text
    .split('\n')
    .map((line) => line.split(','))
    .filter(([time, flags = '']) => time !== undefined && time.trim() !== '' && time !== 'N/A' && !flags.includes('D'))
    .map(([time]) => Number(time))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
}

/** Whether consecutive times are `period` apart, within a tenth of it (timestamps are rounded). */
function evenlySpaced(times: readonly number[], period: number): boolean {
  for (let i = 1; i < times.length; i++) if (Math.abs(times[i]! - times[i - 1]! - period) > 0.1 * period) return false;
  return true;
}

/**
 * Decodes every frame of `file` into `dir` as 000001.png, … at `width`×`height` (ffmpeg scales: a
 * huge clip is shrunk as it is read). Returns the number of frames written.
 */
export async function decodeFrames(file: string, dir: string, width: number, height: number): Promise<number> {
  const scale = `scale=${width}:${height}:flags=lanczos`;
  const args = ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-vf', scale, '-fps_mode', 'passthrough'];
  await runTool('ffmpeg', [...args, '-f', 'image2', path.join(dir, FRAME_PATTERN)]);
  return fs.readdirSync(dir).filter((name) => /^\d{6}\.png$/.test(name)).length;
}

/** The video and audio codecs of each container (gif: no audio). */
const CODECS: Record<VideoExtension, { video: string[]; audio: string[] | null }> = {
  '.mp4': { video: ['-c:v', 'libx264', '-crf', '18', '-pix_fmt', 'yuv420p'], audio: ['-c:a', 'aac'] },
  '.mkv': { video: ['-c:v', 'libx264', '-crf', '18', '-pix_fmt', 'yuv420p'], audio: ['-c:a', 'aac'] },
  '.webm': { video: ['-c:v', 'libvpx-vp9', '-crf', '30', '-b:v', '0'], audio: ['-c:a', 'libopus'] },
  '.gif': { video: ['-filter_complex', '[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse'], audio: null },
};

/** The container of an output path, or null when its extension names none. */
export function videoExtension(file: string): VideoExtension | null {
  const ext = path.extname(file).toLowerCase();
  return (VIDEO_EXTENSIONS as readonly string[]).includes(ext) ? (ext as VideoExtension) : null;
}

/**
 * Encodes the frames 000001.png … of `dir` at `rate` into `output` (container by its extension),
 * with the first audio stream of `audioFrom` where there is one (cut to the video's length when
 * `partial`: the frames of an interrupted run): written to a hidden temporary file beside it and
 * renamed, so `output` is whole or untouched.
 */
export async function encodeVideo(
  dir: string,
  rate: string,
  output: string,
  audioFrom: string | null,
  partial = false,
): Promise<void> {
  const ext = videoExtension(output);
  if (!ext) throw new InputError(`output ${output}: not a video extension (${VIDEO_EXTENSIONS.join(', ')})`);
  const codecs = CODECS[ext];
  const temp = path.join(path.dirname(output), `.${path.basename(output, ext)}.tmp-${process.pid}${ext}`);
  const inputs = ['-framerate', rate, '-i', path.join(dir, FRAME_PATTERN)];
  const audio = audioFrom && codecs.audio ? ['-i', audioFrom, '-map', '0:v', '-map', '1:a:0?', ...codecs.audio] : [];
  trackTemporary(temp, true);
  try {
    const cut = audio.length > 0 && partial ? ['-shortest'] : [];
    await runTool('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...inputs, ...audio, ...codecs.video, ...cut, temp]);
    fs.renameSync(temp, output);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw new Error(`cannot write video ${output}: ${oneLine(error)}`, { cause: error });
  } finally {
    trackTemporary(temp, false);
  }
}
