// A campaign's report as charts (the vendored ECharts): each group's conversion rate (%) and
// revenue per member (yuan) side by side, and the relative uplift of both with its 95%
// interval (drawn as a box from the interval's ends, the estimate as its middle line).
(function () {
  "use strict";
  var source = document.getElementById("campaign-chart-data");
  if (!source || typeof echarts === "undefined") return;
  var data = JSON.parse(source.textContent);

  function chart(id) {
    var box = document.getElementById(id);
    box.style.height = "280px";
    return echarts.init(box);
  }

  function value(v) { return v === null ? "-" : v; }

  var groups = chart("campaign-groups-chart");
  groups.setOption({
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { bottom: 0 },
    grid: { left: 48, right: 56, top: 16, bottom: 48 },
    xAxis: { type: "category", data: data.groups },
    yAxis: [{ type: "value", name: "%" }, { type: "value", name: "¥" }],
    series: [
      { name: data.measures[0], type: "bar", barMaxWidth: 32,
        data: [value(data.conversion.treated), value(data.conversion.control)] },
      { name: data.measures[1], type: "bar", barMaxWidth: 32, yAxisIndex: 1,
        data: [value(data.rpm.treated), value(data.rpm.control)] },
    ],
  });

  function interval(effect) {
    if (effect.relative === null || !effect.relative_ci) return "-";
    var lo = effect.relative_ci[0], hi = effect.relative_ci[1];
    return [lo, lo, effect.relative, hi, hi];
  }

  var uplift = chart("campaign-uplift-chart");
  uplift.setOption({
    tooltip: { trigger: "item", renderMode: "richText" },
    grid: { left: 56, right: 24, top: 16, bottom: 32 },
    xAxis: { type: "category", data: data.measures },
    yAxis: { type: "value", name: "%" },
    series: [{
      name: data.names.uplift,
      type: "boxplot",
      boxWidth: [16, 40],
      data: [interval(data.relative.conversion), interval(data.relative.rpm)],
      markLine: { symbol: "none", silent: true, data: [{ yAxis: 0 }] },
    }],
  });
  window.addEventListener("resize", function () {
    groups.resize();
    uplift.resize();
  });
})();
