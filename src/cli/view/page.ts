/** The preview page: one HTML document; it follows the server's events and fetches the image and the curves. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nst preview</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #222; }
  main { display: grid; grid-template-columns: minmax(256px, 1fr) minmax(320px, 1fr); gap: 16px; }
  #image { max-width: 100%; image-rendering: auto; border: 1px solid #ccc; }
  .plot svg { width: 100%; height: auto; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
  dt { color: #666; } dd { margin: 0; font-variant-numeric: tabular-nums; }
  #stop { font-size: 16px; padding: 6px 18px; background: #b00020; color: white; border: 0; border-radius: 4px; }
  #stop:disabled { background: #999; }
  #jobs img { height: 96px; margin: 4px; border: 1px solid #ccc; }
  pre { white-space: pre-wrap; font-size: 12px; color: #444; }
</style>
</head>
<body>
<h1>nst <span id="title"></span></h1>
<main>
  <section>
    <img id="image" alt="the best image so far">
    <p><button id="stop">Stop</button> <span id="ended"></span></p>
    <dl id="stats">
      <dt>iteration</dt><dd id="iteration">…</dd>
      <dt>scale</dt><dd id="scale">…</dd>
      <dt>evaluations</dt><dd id="evaluations">…</dd>
      <dt>cost</dt><dd id="cost">…</dd>
      <dt>time</dt><dd id="time">…</dd>
      <dt>time left</dt><dd id="left">…</dd>
      <dt>engine</dt><dd id="engine">…</dd>
    </dl>
  </section>
  <section>
    <div class="plot" id="plot-iteration"></div>
    <div class="plot" id="plot-seconds"></div>
  </section>
</main>
<h2>Jobs</h2>
<div id="jobs"></div>
<details><summary>Settings</summary><pre id="settings"></pre></details>
<script>
const $ = (id) => document.getElementById(id);
const seconds = (s) => { if (s == null) return '…'; s = Math.round(s); return s < 60 ? s + ' s' : Math.floor(s / 60) + ' min ' + (s % 60) + ' s'; };
let image = 0, plotting = false, dirty = false, finished = 0;
async function plots() {
  if (plotting) { dirty = true; return; }
  plotting = true;
  for (const x of ['iteration', 'seconds']) {
    const svg = await (await fetch('plot.svg?x=' + x + '&t=' + Date.now())).text();
    $('plot-' + x).innerHTML = svg;
  }
  plotting = false;
  if (dirty) { dirty = false; setTimeout(plots, 500); }
}
function show(state) {
  const job = state.job, p = state.progress;
  if (job) {
    const name = (f) => f.split(/[\\\\/]/).pop();
    $('title').textContent = (job.index ? 'job ' + job.index + '/' + state.jobs + ': ' : '') + name(job.content) + ' × ' + job.styles.map(name).join(' + ') + ' → ' + name(job.output);
    $('engine').textContent = job.engine;
    $('settings').textContent = JSON.stringify({ preset: job.preset, ...job.settings }, null, 1);
  }
  if (p) {
    $('iteration').textContent = p.iteration + ' / ' + p.iterations;
    $('evaluations').textContent = p.evaluations;
    $('cost').textContent = p.costs.total.toExponential(4) + ' (best ' + p.bestCost.toExponential(4) + ')';
    $('time').textContent = seconds(p.elapsedMs / 1000);
    $('left').textContent = seconds(p.secondsLeft);
    plots();
  }
  // During a tiled evaluation the tile's scale, which may be a new one not yet reported.
  const s = state.tile ? state.tile.scale : p && p.scale;
  if (s) {
    const tiles = (s.tiles > 1 ? ', ' + s.tiles + ' tiles' : '') + (state.tile ? ': tile ' + state.tile.done + '/' + state.tile.total : '');
    $('scale').textContent = s.index + ' / ' + s.count + ' (' + s.size + ' px' + tiles + ')';
  }
  if (state.image !== image) { image = state.image; $('image').src = 'image.png?v=' + image; }
  for (; finished < state.finished.length; finished++) {
    const f = state.finished[finished], img = document.createElement('img');
    img.title = f.label; img.alt = f.label;
    if (f.thumb >= 0) img.src = 'thumb/' + f.thumb + '.png';
    $('jobs').append(img);
  }
  if (state.stopping) $('stop').disabled = true;
  if (state.ended) { $('ended').textContent = state.ended; $('stop').disabled = true; events.close(); }
}
const events = new EventSource('events');
events.addEventListener('state', (e) => show(JSON.parse(e.data)));
$('stop').onclick = async () => {
  $('stop').disabled = true;
  $('ended').textContent = 'stopping: the best image so far is being written…';
  await fetch('stop', { method: 'POST', headers: { 'x-nst-stop': '1' } });
};
</script>
</body>
</html>
`;
