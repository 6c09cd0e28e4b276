/**
 * Reverse-mode differentiation of a graph being built: from seeds (values and the gradients that
 * flow into them, a scalar cost's being 1) back to the values asked for, appending the gradient
 * nodes to the same graph. Each operator's rule is one function in rules.ts; an operator on the
 * way without a rule is refused by name, so a new cost term is either differentiated or refused
 * when its graph is built, never silently wrong.
 */
import { BOOL, INT64, type GraphBuilder, type Node } from './builder.js';
import { RULES, type RuleContext, type Tuning } from './rules.js';

export type { Tuning };

/** A value of the graph and the gradient of the objective w.r.t. it. */
export interface Seed {
  value: string;
  gradient: string;
}

/** Only floating-point values carry gradients (shapes, indices and masks do not). */
const differentiable = (g: GraphBuilder, value: string) => {
  const type = g.typeOf(value);
  return type !== INT64 && type !== BOOL;
};

/** The nodes between `wrt` and the seeds: those that read a value depending on `wrt` and feed a seed. */
function between(g: GraphBuilder, nodes: readonly Node[], wrt: readonly string[], seeds: readonly Seed[]) {
  const fromWrt = new Set(wrt);
  for (const node of nodes) {
    if (node.inputs.some((x) => fromWrt.has(x)))
      node.outputs.filter((y) => differentiable(g, y)).forEach((y) => fromWrt.add(y));
  }
  const toSeed = new Set(seeds.map((s) => s.value));
  const path: Node[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!node.outputs.some((y) => toSeed.has(y) && fromWrt.has(y))) continue;
    path.push(node);
    node.inputs.filter((x) => fromWrt.has(x)).forEach((x) => toSeed.add(x));
  }
  return { path, fromWrt };
}

/**
 * Appends the gradient of the seeds' objective w.r.t. each of `wrt` to the graph and returns
 * their names, in order. Throws when a node on the way has no rule, or when no gradient reaches
 * one of `wrt`.
 */
export function differentiate(
  g: GraphBuilder,
  seeds: readonly Seed[],
  wrt: readonly string[],
  tuning: Tuning = {},
): string[] {
  const nodes = [...g.nodes];
  const { path, fromWrt } = between(g, nodes, wrt, seeds);
  const parts = new Map<string, string[]>();
  const add = (value: string, gradient: string) => parts.set(value, [...(parts.get(value) ?? []), gradient]);
  const total = (value: string): string | null => {
    const list = parts.get(value);
    if (!list?.length) return null;
    return list.length === 1 ? list[0]! : g.op('Sum', list, {}, `d_${value}`);
  };
  for (const seed of seeds) add(seed.value, seed.gradient);

  for (const node of path) {
    const dy = node.outputs.map(total);
    if (dy.every((d) => d === null)) continue;
    const needs = node.inputs.map((x) => x !== '' && fromWrt.has(x));
    const rule = RULES[node.type];
    if (!rule) throw new Error(`no gradient rule for ONNX operator ${node.type} (it computes ${node.outputs[0]})`);
    const context: RuleContext = { g, node, dy, needs, tuning };
    const gradients = rule(context);
    node.inputs.forEach((x, i) => {
      const d = gradients[i];
      if (needs[i] && d) add(x, d);
    });
  }
  return wrt.map((x) => {
    const d = total(x);
    if (!d) throw new Error(`no gradient reaches ${x}`);
    return d;
  });
}
