/**
 * L-BFGS's pairs on a GPU (ONNX Runtime's WebGPU provider): S and Y stay on the device as two
 * [capacity, n] tensors from the first pair to the last, and the recursion runs there
 * (curvature.ts's graphs, `vectorFreeTimes`); what crosses the bus is image-sized vectors (q, D,
 * the new s and y, H·q) and scalars, never the history (100 pairs at 512×384: 470 MB).
 *
 * A pair is written by a graph (S₊ = Where(row mask, s, S), the same for Y) whose outputs stay on
 * the device and replace S and Y, and which gives R's new column S₊·y at once. The products read
 * every row of the capacity, so a restored holder computes exactly as the one it was saved from.
 * The host keeps a copy of the rows it sent (the CPU holder's memory, no more), so that a
 * checkpoint lists them without a read back from the device.
 */
import { BOOL, GraphBuilder, INT64 } from '../graph/builder.js';
import { ort, type Ort } from './runtime.js';
import { floats, SessionSet } from './host.js';
import { curvatureModels, PairRing } from './curvature.js';
import type { CurvaturePairsFactory } from '../../optim/types.js';

/** S₊ and Y₊ with the masked row replaced by s and y, and S₊·y. */
function writeModel(): Uint8Array {
  const g = new GraphBuilder('pair_write');
  const mask = g.input('mask', ['k', 1], BOOL);
  const y = g.input('y', [1, 'n']);
  const S = g.op('Where', [mask, g.input('s', [1, 'n']), g.input('S', ['k', 'n'])]);
  g.output('nextS', S, ['k', 'n']);
  g.output('nextY', g.op('Where', [mask, y, g.input('Y', ['k', 'n'])]), ['k', 'n']);
  g.output('column', g.op('MatMul', [S, g.op('Reshape', [y, g.int64s([-1, 1])])]), ['k', 1]);
  return g.encode();
}

/** Zero matrices of the given shape, kept on the device (ONNX Runtime fills them on the CPU and copies them over, once). */
function zerosModel(): Uint8Array {
  const g = new GraphBuilder('pair_zeros');
  const shape = g.input('shape', [2], INT64);
  g.output('S', g.op('ConstantOfShape', [shape]), ['k', 'n']);
  g.output('Y', g.op('ConstantOfShape', [shape]), ['k', 'n']);
  return g.encode();
}

/** The graphs of pairs on a device, and the outputs each keeps there. */
export const devicePairModels = () => ({
  ...curvatureModels(),
  write: writeModel(),
  zeros: zerosModel(),
});
export const DEVICE_PAIR_OUTPUTS = { write: ['nextS', 'nextY'], zeros: ['S', 'Y'], scaled: ['z'] } as const;

export type DevicePairSessions = SessionSet<keyof ReturnType<typeof devicePairModels>>;

/** The holder whose S and Y live on the device, a copy of the host's rows; made by `devicePairs`. */
export class DevicePairs extends PairRing {
  private deviceS: Ort.Tensor | null = null;
  private deviceY: Ort.Tensor | null = null;

  constructor(
    capacity: number,
    protected readonly sessions: DevicePairSessions,
  ) {
    super(capacity);
  }

  protected matrices(): [Ort.Tensor, Ort.Tensor] {
    return [this.deviceS!, this.deviceY!];
  }

  /** Writes the rows, oldest first (each column then sees the rows older than its own). */
  protected async make(rows: readonly number[]): Promise<void> {
    for (const row of rows) await this.write(row);
  }

  /** (`allocate` disposes too: pairs of another size start on fresh matrices.) */
  override dispose(): void {
    super.dispose();
    this.release();
  }

  private release(): void {
    this.deviceS?.dispose();
    this.deviceY?.dispose();
    [this.deviceS, this.deviceY] = [null, null];
  }

  /** Writes the host's row into S and Y on the device, and R's column of the row. */
  private async write(row: number): Promise<void> {
    const { n, capacity } = this;
    if (!this.deviceS) {
      const shape = new ort.Tensor('int64', BigInt64Array.of(BigInt(capacity), BigInt(n)), [2]);
      const zeros = await this.sessions.run('zeros', { shape });
      [this.deviceS, this.deviceY] = [zeros['S']!, zeros['Y']!];
    }
    const mask = new Uint8Array(capacity);
    mask[row] = 1;
    const out = await this.sessions.run('write', {
      S: this.deviceS,
      Y: this.deviceY!,
      s: floats(this.row(this.S, row), [1, n]),
      y: floats(this.row(this.Y, row), [1, n]),
      mask: new ort.Tensor('bool', mask, [capacity, 1]),
    });
    this.release();
    [this.deviceS, this.deviceY] = [out['nextS']!, out['nextY']!];
    this.setColumn(row, out['column']!.data as Float32Array);
  }
}

/** Pairs held on the device that these sessions run on. */
export const devicePairs =
  (sessions: DevicePairSessions): CurvaturePairsFactory =>
  (capacity) =>
    new DevicePairs(capacity, sessions);
