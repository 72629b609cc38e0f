// The segments screens' charts: members by RFM class and by lifecycle stage, drawn with the
// vendored ECharts from the figures the page embeds as JSON. Tooltips are plain text (the
// console's CSP allows no inline style, which ECharts' HTML tooltips would need).
(function () {
  "use strict";
  var source = document.getElementById("segment-chart-data");
  if (!source || typeof echarts === "undefined") return;
  var data = JSON.parse(source.textContent);

  function chart(id) {
    var box = document.getElementById(id);
    box.style.height = "280px";
    return echarts.init(box);
  }

  var tooltip = { trigger: "axis", renderMode: "richText" };
  var rfm = chart("segment-rfm-chart");
  rfm.setOption({
    tooltip: tooltip,
    grid: { left: 120, right: 24, top: 12, bottom: 24 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: data.rfm.labels, inverse: true },
    series: [{ name: data.names.rfm, type: "bar", data: data.rfm.data, barMaxWidth: 22 }],
  });
  var lifecycle = chart("segment-lifecycle-chart");
  lifecycle.setOption({
    tooltip: { trigger: "item", renderMode: "richText" },
    legend: { bottom: 0 },
    series: [{
      name: data.names.lifecycle,
      type: "pie",
      radius: ["38%", "66%"],
      center: ["50%", "45%"],
      data: data.lifecycle.labels.map(function (label, i) {
        return { name: label, value: data.lifecycle.data[i] };
      }),
    }],
  });
  window.addEventListener("resize", function () {
    rfm.resize();
    lifecycle.resize();
  });
})();
