package report

// pageHTML is the report's template. Tables carry every number (data-* attributes name them
// for tests and scripts); the funnel chart is drawn in the browser from the embedded JSON.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d232a; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0; } h2 { margin-top: 2em; font-size: 1.2em; border-bottom: 1px solid #dde; }
.meta { color: #667; margin-top: .2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .25em .7em; text-align: right; border-bottom: 1px solid #eef; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; margin-top: 1em; }
.card { border: 1px solid #dde; border-radius: 6px; padding: .6em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.5em; }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em; vertical-align: -1px; }
#chart svg text { font-size: 12px; }
.none { color: #889; }
.security { background: #fde7e5; }
.security-tag { color: #fff; background: #b3261e; border-radius: 3px; padding: 0 .35em; font-size: .8em; font-weight: 600; margin-left: .4em; }
.card.security b { color: #b3261e; }
#security-alert { border: 1px solid #b3261e; border-radius: 6px; padding: .6em 1em; margin-top: 1em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<div class="meta">swemill {{.Version}} · generated {{ts .Generated}}{{with .Status.LastRun}} · last run #{{.ID}} started {{ts .StartedAt}}{{if .FinishedAt}}, finished {{ts .FinishedAt}}{{else}}, not finished{{end}}{{end}}</div>

<div class="cards">
<div class="card">instances<b data-summary="instances">{{.Status.Instances}}</b></div>
<div class="card">repositories<b data-summary="repos">{{.Status.Repos.Total}}</b></div>
{{range .Status.Stages}}<div class="card">{{.Stage}} done<b data-summary="{{.Stage}}-done">{{count .Counts "done"}}</b></div>
{{end}}{{if .Security}}<div class="card security">security drops<b data-summary="security">{{securityTotal .Security}}</b></div>
{{end}}</div>
{{if .Security}}<div id="security-alert" class="security" role="alert"><strong>Security:</strong> some inputs were refused as possible attacks (a patch with a symbolic link, a path outside the tree or under .git, a special file mode); nothing applied them. Look at them with <code>swemill ls --reason REASON</code>.
<ul>{{range .Security}}<li><span class="security-tag">security</span> {{.Reason}}: <span data-security="{{.Reason}}">{{.Count}}</span> ({{range $i, $s := .Stages}}{{if $i}}, {{end}}{{$s.Stage}} {{$s.Count}}{{end}})</li>
{{end}}</ul></div>
{{end}}
<h2>Funnel</h2>
<div id="chart" aria-label="funnel chart"></div>
<div class="legend" id="legend"></div>
<table id="funnel">
<thead><tr><th>stage</th><th>reached</th>{{range $.States}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range $st := .Status.Stages}}<tr><td>{{$st.Stage}}</td><td data-funnel="{{$st.Stage}}/reached">{{$st.Total}}</td>{{range $.States}}<td data-funnel="{{$st.Stage}}/{{.}}">{{count $st.Counts .}}</td>{{end}}</tr>
{{end}}</tbody>
</table>

<h2>Drop reasons</h2>
<table id="drops">
<thead><tr><th>stage</th><th class="text">reason</th><th>instances</th></tr></thead>
<tbody>
{{range $st := .Status.Stages}}{{range .Drops}}<tr{{if security .Reason}} class="security" data-security-drop="{{$st.Stage}}/{{.Reason}}"{{end}}><td>{{$st.Stage}}</td><td class="text">{{.Reason}}{{if security .Reason}}<span class="security-tag">security</span>{{end}}</td><td data-drop="{{$st.Stage}}/{{.Reason}}">{{.Count}}</td></tr>
{{end}}{{end}}{{range .Status.Repos.Drops}}<tr><td>repository</td><td class="text">{{.Reason}}</td><td data-drop="repos/{{.Reason}}">{{.Count}}</td></tr>
{{end}}</tbody>
</table>

<h2>Languages</h2>
{{if .Languages}}<table id="languages">
<thead><tr><th>language</th><th>mined</th><th>mine done</th><th>built</th><th>tasks (validated)</th><th>rolled out</th><th>dropped</th><th>failed</th></tr></thead>
<tbody>
{{range $r := .Languages}}{{template "funnelRow" (funnelRow "lang" $r)}}{{end}}</tbody>
</table>{{else}}<p class="none">No instances yet.</p>{{end}}

<h2>Repositories</h2>
{{if .Repos}}<table id="repos">
<thead><tr><th>repository</th><th>mined</th><th>mine done</th><th>built</th><th>validated</th><th>rolled out</th><th>dropped</th><th>failed</th></tr></thead>
<tbody>
{{range $r := .Repos}}{{template "funnelRow" (funnelRow "repo" $r)}}{{end}}</tbody>
</table>{{else}}<p class="none">No instances yet.</p>{{end}}

<h2>Timings</h2>
<table id="timings">
<thead><tr><th>stage</th><th>items</th><th>total</th><th>mean</th><th>p50</th><th>p90</th><th>max</th></tr></thead>
<tbody>
{{range .Timings}}<tr><td>{{.Stage}}</td><td data-timing="{{.Stage}}/items">{{.Items}}</td><td>{{secs .Total}}</td><td>{{secs .Mean}}</td><td>{{secs .P50}}</td><td>{{secs .P90}}</td><td>{{secs .Max}}</td></tr>
{{end}}</tbody>
</table>

<h2>Disk used by images</h2>
{{if .Images}}<table id="images">
<thead><tr><th>layer</th><th>images</th><th>size</th></tr></thead>
<tbody>
{{range .Images}}<tr><td>{{.Layer}}</td><td data-images="{{.Layer}}/count">{{.Images}}</td><td>{{bytes .Bytes}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p class="none">Not measured (no Docker engine was asked).</p>{{end}}

<h2>Flaky tests</h2>
{{if .Flaky}}<table id="flaky">
<thead><tr><th>instance</th><th class="text">test</th><th class="text">side</th><th>runs</th><th>pass rate</th></tr></thead>
<tbody>
{{range .Flaky}}<tr><td>{{.InstanceID}}</td><td class="text">{{.Name}}</td><td class="text">{{.Side}}</td><td>{{.Runs}}</td><td>{{pct .PassRate}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p class="none">None found.</p>{{end}}

<h2>Rollouts</h2>
{{if .Models}}<table id="models">
<thead><tr><th>model</th><th>instances</th><th>trajectories</th><th>resolved</th><th>rate</th><th>mean turns</th><th>prompt tokens</th><th>completion tokens</th></tr></thead>
<tbody>
{{range .Models}}<tr><td>{{.Model}}</td><td>{{.Instances}}</td><td data-model="{{.Model}}/trajectories">{{.Trajectories}}</td><td data-model="{{.Model}}/resolved">{{.Resolved}}</td><td>{{pct .ResolvedRate}}</td><td>{{printf "%.1f" .MeanTurns}}</td><td>{{.PromptTokens}}</td><td>{{.CompletionTokens}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p class="none">No rollouts yet.</p>{{end}}

<script type="application/json" id="report-data">{{.JSON}}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var colors = {done: "#2e9d5b", dropped: "#e0902f", failed: "#c8423b", pending: "#8a94a6", running: "#4a78c2", stale: "#c9ced8"};
  var order = ["done", "dropped", "failed", "running", "pending", "stale"];
  var stages = data.status.stages, max = 1;
  stages.forEach(function (s) { if (s.total > max) max = s.total; });
  var rowH = 34, left = 80, width = 640, ns = "http://www.w3.org/2000/svg";
  var svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", left + width + 140);
  svg.setAttribute("height", stages.length * rowH + 10);
  stages.forEach(function (s, i) {
    var y = i * rowH + 5, x = left;
    var label = document.createElementNS(ns, "text");
    label.setAttribute("x", 0); label.setAttribute("y", y + 18); label.textContent = s.stage;
    svg.appendChild(label);
    order.forEach(function (state) {
      var n = s.counts[state] || 0;
      if (!n) return;
      var w = width * n / max;
      var r = document.createElementNS(ns, "rect");
      r.setAttribute("x", x); r.setAttribute("y", y); r.setAttribute("width", w); r.setAttribute("height", 24);
      r.setAttribute("fill", colors[state]);
      r.setAttribute("data-bar", s.stage + "/" + state);
      r.setAttribute("data-count", n);
      var t = document.createElementNS(ns, "title"); t.textContent = s.stage + " " + state + ": " + n; r.appendChild(t);
      svg.appendChild(r);
      x += w;
    });
    var total = document.createElementNS(ns, "text");
    total.setAttribute("x", x + 6); total.setAttribute("y", y + 18);
    total.setAttribute("data-chart-total", s.stage);
    total.textContent = s.total + " reached";
    svg.appendChild(total);
  });
  document.getElementById("chart").appendChild(svg);
  var legend = document.getElementById("legend");
  order.forEach(function (state) {
    var span = document.createElement("span");
    var i = document.createElement("i"); i.style.background = colors[state];
    span.appendChild(i); span.appendChild(document.createTextNode(state));
    legend.appendChild(span);
  });
})();
</script>
</body>
</html>
{{define "funnelRow"}}{{$r := .F}}{{$k := .Kind}}<tr><td>{{$r.Repo}}</td>
<td data-{{$k}}="{{$r.Repo}}/mine/reached">{{repoTotal $r "mine"}}</td>
<td data-{{$k}}="{{$r.Repo}}/mine/done">{{repoCount $r "mine" "done"}}</td>
<td data-{{$k}}="{{$r.Repo}}/build/done">{{repoCount $r "build" "done"}}</td>
<td data-{{$k}}="{{$r.Repo}}/validate/done">{{repoCount $r "validate" "done"}}</td>
<td data-{{$k}}="{{$r.Repo}}/rollout/done">{{repoCount $r "rollout" "done"}}</td>
<td>{{add (repoCount $r "mine" "dropped") (repoCount $r "build" "dropped") (repoCount $r "validate" "dropped") (repoCount $r "rollout" "dropped")}}</td>
<td>{{add (repoCount $r "mine" "failed") (repoCount $r "build" "failed") (repoCount $r "validate" "failed") (repoCount $r "rollout" "failed")}}</td>
</tr>
{{end}}`
