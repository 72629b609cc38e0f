// The tier distribution page: members per tier (bars) and tier changes per month (stacked bars
// by reason), drawn with the vendored ECharts from the figures the page embeds as JSON. The
// tables under the charts hold the same figures. Tooltips are plain text: the console's CSP
// allows no inline style, which ECharts' HTML tooltips would need.
(function () {
  "use strict";
  var source = document.getElementById("tier-chart-data");
  if (!source || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);

  function chart(id) {
    var box = document.getElementById(id);
    box.style.height = "280px";
    return echarts.init(box);
  }

  var tooltip = { trigger: "axis", renderMode: "richText" };
  var grid = { left: 48, right: 16, top: 36, bottom: 28 };

  var members = chart("tier-members-chart");
  members.setOption({
    tooltip: tooltip,
    grid: grid,
    xAxis: { type: "category", data: data.tiers },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: data.labels.members, type: "bar", data: data.members, barMaxWidth: 48 }],
  });

  var movements = chart("tier-movements-chart");
  movements.setOption({
    tooltip: tooltip,
    legend: { top: 0 },
    grid: grid,
    xAxis: { type: "category", data: data.months },
    yAxis: { type: "value", minInterval: 1 },
    series: data.series.map(function (s) {
      return { name: s.name, type: "bar", stack: "moves", data: s.data };
    }),
  });

  window.addEventListener("resize", function () {
    members.resize();
    movements.resize();
  });
})();
