/**
 * What a command shows of its runs besides the terminal: the preview page (`--preview`) and the
 * cost plot (`--plot`). One object per command; each hook does nothing for what was not asked.
 */
import type * as tf from '@tensorflow/tfjs';
import { Jimp } from 'jimp';
import type { StylizeProgress, TileProgress } from '../../core/stylize.js';
import { InputError } from '../../errors.js';
import { encodeImage } from '../../io/images.js';
import type { Events } from '../../jobs/events.js';
import { isLoopback, parseAddress } from './address.js';
import { CostHistory } from './history.js';
import { checkPlotPath, writePlot } from './plot.js';
import { PreviewServer, type JobView } from './preview.js';

export interface ViewFlags {
  preview?: string | true;
  previewPublic?: boolean;
  plot?: string;
}

/** Checks the view flags before any work: an InputError names the problem. */
export function checkViewFlags(flags: ViewFlags): void {
  if (flags.plot !== undefined) checkPlotPath(flags.plot);
  if (flags.preview === undefined) return;
  const { host } = parseAddress(flags.preview);
  if (!isLoopback(host) && !flags.previewPublic)
    throw new InputError(
      `--preview ${flags.preview}: ${host} is not this machine only; add --preview-public to serve the page there`,
    );
}

export class RunView {
  private history = new CostHistory();

  private constructor(
    private readonly flags: ViewFlags,
    private readonly server: PreviewServer | null,
  ) {}

  /** Starts the preview server if asked, saying where on stderr (or as a `preview` event). */
  static async open(flags: ViewFlags, events: Events, interrupt: () => void): Promise<RunView> {
    if (flags.preview === undefined) return new RunView(flags, null);
    const address = parseAddress(flags.preview);
    let server: PreviewServer;
    try {
      server = await PreviewServer.start(address, interrupt);
    } catch (error) {
      throw new InputError(
        `--preview ${address.host}:${address.port}: cannot listen there (${(error as Error).message})`,
      );
    }
    if (!isLoopback(address.host))
      process.stderr.write(
        `nst: warning: the preview at ${server.url} is open to every machine that can reach ${address.host}, with a Stop button\n`,
      );
    // Even with --quiet: without it the page (on a free port) cannot be found.
    if (events.enabled) events.emit('preview', { url: server.url });
    else process.stderr.write(`preview: ${server.url}\n`);
    return new RunView(flags, server);
  }

  startJob(job: JobView, jobs = 1): void {
    this.history = new CostHistory();
    this.server?.startJob(job, jobs, this.history);
  }

  progress(e: StylizeProgress, secondsLeft: number | null): void {
    this.history.add(e);
    this.server?.progress(e, secondsLeft);
  }

  /** A tile of a tiled evaluation is done (the page says which). */
  tile(e: TileProgress): void {
    this.server?.tile(e);
  }

  /** The hook for stylize's best images (none without a preview). */
  get onPreview(): ((image: tf.Tensor3D) => Promise<void>) | undefined {
    const server = this.server;
    return server ? async (image) => server.image(await encodeImage(image)) : undefined;
  }

  /**
   * A job ended: the plot is written (even after Ctrl-C), the result becomes a thumbnail. A
   * failure here is a warning: the job's own result and exit code stand.
   */
  async endJob(index: number, label: string, output: string | null): Promise<void> {
    try {
      if (this.flags.plot !== undefined && this.history.points.length > 0)
        await writePlot(this.flags.plot, this.history);
      if (!this.server) return;
      const thumb = output
        ? await (await Jimp.read(output)).scaleToFit({ w: 192, h: 192 }).getBuffer('image/png')
        : null;
      this.server.finishJob(index, label, thumb);
    } catch (error) {
      process.stderr.write(`nst: warning: ${(error as Error).message}\n`);
    }
  }

  async close(why: string): Promise<void> {
    this.server?.end(why);
    await this.server?.close();
  }
}
