/**
 * Picks and loads an engine. Each engine's folder is imported only when it is asked for, so that
 * the command can parse its flags and answer `--help` without loading any of them.
 */
import type { Engine, EngineOptions } from './evaluator.js';

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const { createTfjsEngine } = await import('./tfjs/engine.js');
  return createTfjsEngine(options);
}
