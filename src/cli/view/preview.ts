/**
 * The live preview (`--preview`): a small HTTP server with one page that shows the best image so
 * far, the cost curve, the run's numbers and a Stop button, updated by server-sent events. It
 * serves only its fixed routes; nothing in a request names a file.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StylizeProgress, TileProgress } from '../../core/stylize.js';
import { CostHistory } from './history.js';
import { PAGE } from './page.js';
import { plotSvg, type Axis } from './plot.js';
import type { Address } from './address.js';

/** What the page shows of the job under way. */
export interface JobView {
  index: number | null;
  content: string;
  styles: string[];
  output: string;
  engine: string;
  preset: string | null;
  settings: object;
}

/** The page's state, sent as one event after each change. */
interface State {
  job: JobView | null;
  jobs: number;
  progress: {
    iteration: number;
    iterations: number;
    scale: StylizeProgress['scale'];
    evaluations: number;
    costs: StylizeProgress['costs'];
    bestCost: number;
    elapsedMs: number;
    secondsLeft: number | null;
  } | null;
  /** The evaluation under way at a tiled scale: its tiles done (both passes); null once it is reported. */
  tile: TileProgress | null;
  image: number;
  finished: { index: number; label: string; thumb: number }[];
  /** Stop was pressed (the page keeps its button disabled, also after a reload). */
  stopping: boolean;
  ended: string | null;
}

export class PreviewServer {
  private readonly clients = new Set<http.ServerResponse>();
  /** The current job's costs: the RunView's own history, lent for the plots. */
  private history = new CostHistory();
  private picture: Buffer | null = null;
  private readonly thumbs: Buffer[] = [];
  private readonly state: State = {
    job: null,
    jobs: 1,
    progress: null,
    tile: null,
    image: 0,
    finished: [],
    stopping: false,
    ended: null,
  };
  private sentAt = 0;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  /** Listens at `address`; `onStop` is what the Stop button does (as Ctrl-C). */
  static async start(address: Address, onStop: () => void): Promise<PreviewServer> {
    let preview: PreviewServer | null = null;
    const server = http.createServer((req, res) => preview!.route(req, res, onStop));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    preview = new PreviewServer(server, `http://${host}:${port}/`);
    return preview;
  }

  /** A job starts (`jobs`: how many the command runs); `history` is filled by the caller as it goes. */
  startJob(job: JobView, jobs: number, history: CostHistory): void {
    this.history = history;
    Object.assign(this.state, { job, jobs, progress: null, tile: null, ended: null });
    this.send(true);
  }

  progress(e: StylizeProgress, secondsLeft: number | null): void {
    const { iteration, iterations, scale, costs, bestCost, elapsedMs } = e;
    this.state.progress = {
      iteration,
      iterations,
      scale,
      costs,
      bestCost,
      elapsedMs,
      evaluations: e.run.evaluations,
      secondsLeft,
    };
    this.state.tile = null;
    this.send(false);
  }

  tile(e: TileProgress): void {
    this.state.tile = e;
    this.send(false);
  }

  /** The best image so far, encoded. */
  image(png: Buffer): void {
    this.picture = png;
    this.state.image++;
    this.send(true);
  }

  /** A job of a batch ended; its result (encoded) becomes a thumbnail. */
  finishJob(index: number, label: string, png: Buffer | null): void {
    if (png) this.thumbs.push(png);
    this.state.finished.push({ index, label, thumb: png ? this.thumbs.length - 1 : -1 });
    this.send(true);
  }

  /** The run ended (`why`: the done line's words). */
  end(why: string): void {
    this.state.ended = why;
    this.send(true);
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.end();
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }

  /** Sends the state to every page: at once for changes that matter, else at most 4 times a second. */
  private send(now: boolean): void {
    if (!now && Date.now() - this.sentAt < 250) return;
    this.sentAt = Date.now();
    const data = `event: state\ndata: ${JSON.stringify(this.state)}\n\n`;
    for (const client of this.clients) client.write(data);
  }

  /** Answers a request; a malformed one gets 400, never an exception that would end the run. */
  private route(req: http.IncomingMessage, res: http.ServerResponse, onStop: () => void): void {
    try {
      this.answer(req, res, onStop);
    } catch {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end();
    }
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, onStop: () => void): void {
    const [pathname = '/', query = ''] = (req.url ?? '/').split('?');
    const url = { pathname, searchParams: new URLSearchParams(query) };
    // Only requests addressed to this server's own host:port (no DNS rebinding onto it).
    if (req.headers.host !== new URL(this.url).host) {
      res.writeHead(421, { 'content-type': 'text/plain' });
      return void res.end('wrong host\n');
    }
    const get = req.method === 'GET';
    const reply = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    const thumb = /^\/thumb\/(\d+)\.png$/.exec(url.pathname);
    if (get && url.pathname === '/') return reply(200, 'text/html; charset=utf-8', PAGE);
    if (get && url.pathname === '/events') return this.subscribe(res);
    if (get && url.pathname === '/image.png' && this.picture) return reply(200, 'image/png', this.picture);
    if (get && url.pathname === '/plot.svg') {
      const axis: Axis = url.searchParams.get('x') === 'seconds' ? 'seconds' : 'iteration';
      return reply(200, 'image/svg+xml', plotSvg(this.history, axis));
    }
    if (get && thumb && this.thumbs[Number(thumb[1])]) return reply(200, 'image/png', this.thumbs[Number(thumb[1])]!);
    // A custom header: another site's page cannot send it without a CORS preflight, which fails here.
    if (req.method === 'POST' && url.pathname === '/stop' && req.headers['x-nst-stop'] === '1') {
      if (!this.state.stopping) onStop();
      this.state.stopping = true;
      this.send(true);
      return reply(202, 'text/plain', 'stopping\n');
    }
    reply(404, 'text/plain', 'not found\n');
  }

  private subscribe(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`event: state\ndata: ${JSON.stringify(this.state)}\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }
}
