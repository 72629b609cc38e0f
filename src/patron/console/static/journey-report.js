// A journey's report charts: treated and control side by side (conversion rate and revenue per
// member), and the relative uplift of each with its 95% interval (a box from low to high, the
// estimate as a point). Drawn with the vendored ECharts from the figures the page embeds as
// JSON; tooltips are plain text (the console's CSP allows no inline style).
(function () {
  "use strict";
  var source = document.getElementById("journey-chart-data");
  if (!source || typeof echarts === "undefined") return;
  var data = JSON.parse(source.textContent);

  function chart(id) {
    var box = document.getElementById(id);
    box.style.height = "280px";
    return echarts.init(box);
  }

  var groups = chart("journey-groups-chart");
  groups.setOption({
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0 },
    grid: { left: 52, right: 52, top: 36, bottom: 28 },
    xAxis: { type: "category", data: data.groups },
    yAxis: [
      { type: "value", name: "%", min: 0 },
      { type: "value", name: "¥", min: 0 },
    ],
    series: [
      { name: data.labels.conversion, type: "bar", data: data.conversion, barMaxWidth: 40 },
      { name: data.labels.revenue, type: "bar", yAxisIndex: 1, data: data.revenue, barMaxWidth: 40 },
    ],
  });

  var names = data.measures.map(function (m) { return m.name; });
  var uplift = chart("journey-uplift-chart");
  uplift.setOption({
    title: { text: data.labels.uplift, left: "center", textStyle: { fontSize: 13 } },
    tooltip: { trigger: "item", renderMode: "richText" },
    grid: { left: 52, right: 24, top: 36, bottom: 28 },
    xAxis: { type: "category", data: names },
    yAxis: { type: "value", name: "%" },
    series: [
      {
        name: data.labels.uplift,
        type: "candlestick",
        barMaxWidth: 28,
        data: data.measures.map(function (m) {
          return m.ci ? [m.ci[0], m.ci[1], m.ci[0], m.ci[1]] : ["-", "-", "-", "-"];
        }),
        markLine: { silent: true, symbol: "none", data: [{ yAxis: 0 }] },
      },
      {
        name: data.labels.uplift,
        type: "scatter",
        symbolSize: 10,
        data: data.measures.map(function (m) { return m.value === null ? "-" : m.value; }),
      },
    ],
  });

  window.addEventListener("resize", function () {
    groups.resize();
    uplift.resize();
  });
})();
