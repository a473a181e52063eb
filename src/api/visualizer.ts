/**
 * A small debugging page: the cluster machine's states (from /api/v1/machine) and each cluster's current
 * actor state, live from WebSocket /events. The browser's Basic credentials cover both requests.
 */

/** The page's HTML (static; the namespace comes from `?namespace=`). */
export const VISUALIZER_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>pg-operator actors</title>
<style>body{font:14px system-ui;margin:2em}td,th{padding:2px 10px;text-align:left}.on{background:#cfc;font-weight:bold}
#log{font:12px monospace;white-space:pre;max-height:20em;overflow:auto;border:1px solid #ccc;padding:4px}</style></head>
<body><h1>Cluster actors</h1>
<form>namespace <input name="namespace" id="ns"> <button>follow</button></form>
<table id="t"><thead id="h"></thead><tbody id="b"></tbody></table>
<h2>Stream</h2><div id="log"></div>
<script>
const ns = new URLSearchParams(location.search).get('namespace') || 'default';
document.getElementById('ns').value = ns;
const clusters = new Map();
let states = [];
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => '&#' + c.charCodeAt(0) + ';');
function render() {
  document.getElementById('h').innerHTML = '<tr><th>cluster</th>' + states.map((s) => '<th title="' + esc(s.description) + '">' + esc(s.path) + '</th>').join('') + '</tr>';
  document.getElementById('b').innerHTML = [...clusters].map(([c, st]) => '<tr><td>' + esc(c) + '</td>' +
    states.map((s) => '<td class="' + (st === s.path || st.startsWith(s.path + '.') ? 'on' : '') + '">' + (st === s.path ? '&#9679;' : '') + '</td>').join('') + '</tr>').join('');
}
fetch('/api/v1/machine').then((r) => r.json()).then((m) => { states = m.states; render(); });
fetch('/api/v1/namespaces/' + encodeURIComponent(ns) + '/clusters').then((r) => r.json()).then((l) => {
  for (const c of l.clusters || []) if (!clusters.has(c.name)) clusters.set(c.name, c.state || '');
  render();
});
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/events?namespace=' + encodeURIComponent(ns));
ws.onmessage = (m) => {
  const e = JSON.parse(m.data);
  if (e.kind === 'transition') { clusters.set(e.cluster, e.state); render(); }
  const log = document.getElementById('log');
  log.textContent += [e.time, e.kind, e.cluster || e.object || '', e.state || e.phase || e.reason || '', e.message || ''].join(' ') + '\\n';
  log.scrollTop = log.scrollHeight;
};
ws.onclose = (e) => { document.getElementById('log').textContent += 'stream closed ' + e.code + ' ' + e.reason + '\\n'; };
</script></body></html>`;
