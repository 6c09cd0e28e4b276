/**
 * The action of `nst video`: the terminal around the library's video job (jobs/video.ts): the
 * lines and the bar (frame, its iteration, the time left for the clip), the JSON events,
 * Ctrl-C. main.ts loads it only when the command runs.
 */
import type { VideoSettings } from '../core/video-settings.js';
import type { StylizeProgress } from '../core/stylize.js';
import type { Engine } from '../engine/evaluator.js';
import { Events } from '../jobs/events.js';
import { formatSeconds } from '../jobs/eta.js';
import * as path from 'node:path';
import { planVideo, runVideo, type VideoJob, type VideoPlan } from '../jobs/video.js';
import { checkViewFlags, RunView, type ViewFlags } from './view/watch.js';
import { errorCode, fetchWeights, startEngine } from './commands.js';
import type { ProcessFlags, RunFlags } from './flags.js';
import { costLines, costWriter, NO_BAR, progressBar, sayer, showsBar, trapSignals, type Bar } from './terminal.js';

export interface VideoFlags extends RunFlags, ProcessFlags, VideoSettings, ViewFlags {
  output: string;
}

/** Seconds left for the clip: the frames not begun at the mean of the later frames done, and the current one's rest. */
class ClipTimeLeft {
  private laterSeconds: number[] = [];
  private frameStart = Date.now();

  constructor(private readonly plan: VideoPlan) {}

  startFrame(): void {
    this.frameStart = Date.now();
  }

  endFrame(index: number): void {
    if (index > 0) this.laterSeconds.push((Date.now() - this.frameStart) / 1000);
  }

  /** At `fraction` of frame `index`: NaN until one later frame is done (nothing to go by). */
  left(index: number, fraction: number): number {
    const per = this.laterSeconds.reduce((a, b) => a + b, 0) / this.laterSeconds.length;
    const spent = (Date.now() - this.frameStart) / 1000;
    const current = fraction > 0 ? (spent / fraction) * (1 - fraction) : per;
    return current + per * (this.plan.frames - index - 1);
  }
}

export async function videoCommand(input: string, styles: string[], flags: VideoFlags): Promise<number> {
  const events = new Events(Boolean(flags.json), (line) => void process.stdout.write(line));
  const say = sayer(flags);
  const signals = trapSignals();
  let engine: Engine | null = null;
  let view: RunView | null = null;
  let bar: Bar = NO_BAR;
  let ending = 'failed';
  try {
    checkViewFlags(flags);
    const { output, temporalWeight, frameIterations, flowDir, fps, ...rest } = flags;
    const video = { temporalWeight, frameIterations, flowDir, fps };
    const job: VideoJob = { input, styles, output, flags: rest, video };
    engine = await startEngine(flags);
    const planned = await planVideo(job);
    await fetchWeights(flags, say);
    view = await RunView.open(flags, events, signals.interrupt);
    const shown = view;
    let time: ClipTimeLeft | null = null;
    let frame = 0;
    const lines = costLines(flags.reportEvery, costWriter(flags));
    const onProgress = (e: StylizeProgress) => {
      lines(e);
      const fraction = e.run.iteration / e.run.iterations;
      const left = time!.left(frame, fraction);
      bar.update(frame + fraction, {
        frame: `${frame + 1}/${planned.plan.frames}`,
        iteration: `${e.run.iteration}/${e.run.iterations}`,
        best: e.bestCost.toExponential(4),
        left: formatSeconds(left),
      });
      shown.progress(e, Number.isFinite(left) ? left : null);
    };
    signals.running(true);
    const result = await runVideo(
      job,
      planned,
      { engine, signal: signals.signal, events, memoryCheck: flags.memoryCheck },
      {
        onPlan: (plan) => {
          say(engine!.info.description);
          const from = plan.first > 0 ? `, going on at frame ${plan.first + 1}` : '';
          say(`${plan.frames} frames of ${plan.width}×${plan.height} px at ${plan.rate} fps${from}`);
          time = new ClipTimeLeft(plan);
          const format = ' {bar} frame {frame} | iteration {iteration} | best {best} | left {left}';
          bar = progressBar(flags, format, plan.frames);
        },
        onFrameStart: (index, content, file) => {
          frame = index;
          time!.startFrame();
          const settings = planned.settings[index > 0 ? 1 : 0];
          const { description } = engine!.info;
          const about = { index: index + 1, content, styles, output: file, engine: description, settings };
          shown.startJob({ ...about, preset: flags.preset ?? null }, planned.plan.frames);
        },
        frame: { onProgress, onPreview: shown.onPreview },
        onFrame: async ({ index, result, file }) => {
          time!.endFrame(index);
          await shown.endJob(index + 1, path.basename(file), file);
          bar.update(index + 1, {});
          if (!showsBar(flags))
            say(
              `frame ${index + 1}/${planned.plan.frames}: ${(result.elapsedMs / 1000).toFixed(1)} s, best cost ${result.bestCost}`,
            );
        },
      },
    );
    bar.stop();
    const { done, plan } = result;
    const seconds = (result.elapsedMs / 1000).toFixed(1);
    ending = result.interrupted ? 'interrupted' : 'video done';
    if (result.interrupted) {
      const what = plan.encode ? (done > 0 ? `; ${output} holds them` : '') : ` in ${output}`;
      say(`interrupted: ${done} of ${plan.frames} frames done${what}; the same command goes on from frame ${done + 1}`);
    } else say(`wrote ${output}: ${plan.frames} frames in ${seconds} s`);
    return signals.code();
  } catch (error) {
    bar.stop();
    events.emit('error', { code: errorCode(error), message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    await view?.close(ending);
    signals.release();
    engine?.dispose();
  }
}
