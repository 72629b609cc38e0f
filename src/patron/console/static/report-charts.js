// The reports' charts: each chart a report declares (its ChartKind: line, bar, stacked_bar, pie,
// heatmap, lorenz, sparkline) drawn with the vendored ECharts from the rows the page embeds as
// JSON, money already in yuan and shares in per cent, words in the page's language. The tables
// under the charts hold the same rows. Tooltips are plain text: the console's CSP allows no
// inline style, which ECharts' HTML tooltips would need.
(function () {
  "use strict";
  var source = document.getElementById("report-chart-data");
  if (!source || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var numbers = new Intl.NumberFormat(data.lang === "zh" ? "zh-CN" : "en", {
    maximumFractionDigits: 2,
  });

  function formatter(unit) {
    return function (value) {
      if (typeof value !== "number") {
        return value == null ? "—" : String(value);
      }
      var text = numbers.format(value);
      return unit === "yuan" ? "¥" + text : unit === "percent" ? text + "%" : text;
    };
  }

  function column(spec, at) {
    return spec.rows.map(function (row) {
      return row[at];
    });
  }

  function distinct(values) {
    var seen = [];
    values.forEach(function (value) {
      if (seen.indexOf(value) < 0) {
        seen.push(value);
      }
    });
    return seen;
  }

  function firstUnit(spec) {
    return spec.series.length ? spec.series[0].unit : "";
  }

  var grid = { left: 16, right: 24, top: 40, bottom: 16, containLabel: true };

  function axes(spec, type, stacked) {
    return {
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0, type: "scroll" },
      grid: grid,
      xAxis: { type: "category", data: column(spec, 0) },
      yAxis: { type: "value", axisLabel: { formatter: formatter(firstUnit(spec)) } },
      series: spec.series.map(function (s, k) {
        return {
          name: s.label,
          type: type,
          stack: stacked ? "total" : undefined,
          data: column(spec, 1 + k),
          showSymbol: spec.rows.length <= 31,
          barMaxWidth: 40,
          tooltip: { valueFormatter: formatter(s.unit) },
        };
      }),
    };
  }

  function pie(spec) {
    var s = spec.series[0];
    return {
      tooltip: { trigger: "item", renderMode: "richText", valueFormatter: formatter(s.unit) },
      legend: { bottom: 0, type: "scroll" },
      series: [
        {
          name: s.label,
          type: "pie",
          radius: ["35%", "62%"],
          center: ["50%", "45%"],
          label: { formatter: "{b}: {d}%" },
          data: spec.rows.map(function (row) {
            return { name: String(row[0]), value: row[1] };
          }),
        },
      ],
    };
  }

  function heatmap(spec, box) {
    var xs = distinct(column(spec, 0));
    var ys = distinct(column(spec, 1));
    var s = spec.series[0];
    var format = formatter(s.unit);
    var values = column(spec, 2).filter(function (v) {
      return typeof v === "number";
    });
    box.style.height = Math.max(300, 28 * ys.length + 120) + "px";
    return {
      tooltip: {
        renderMode: "richText",
        formatter: function (p) {
          return ys[p.value[1]] + " · " + xs[p.value[0]] + ": " + format(p.value[2]);
        },
      },
      grid: { left: 16, right: 24, top: 16, bottom: 72, containLabel: true },
      xAxis: { type: "category", data: xs, name: spec.x.label, nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "category", data: ys, name: spec.y.label, inverse: true },
      visualMap: {
        min: Math.min.apply(null, values.concat([0])),
        max: Math.max.apply(null, values.concat([1])),
        calculable: true,
        orient: "horizontal",
        left: "center",
        bottom: 0,
        formatter: format,
      },
      series: [
        {
          name: s.label,
          type: "heatmap",
          data: spec.rows.map(function (row) {
            return [xs.indexOf(row[0]), ys.indexOf(row[1]), row[2]];
          }),
          label: {
            show: xs.length <= 16,
            formatter: function (p) {
              return format(p.value[2]);
            },
          },
        },
      ],
    };
  }

  function lorenz(spec) {
    var s = spec.series[0];
    var top = spec.x.unit === "percent" ? 100 : 1;
    return {
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: grid,
      xAxis: {
        type: "value",
        min: 0,
        max: top,
        name: spec.x.label,
        nameLocation: "middle",
        nameGap: 28,
        axisLabel: { formatter: formatter(spec.x.unit) },
      },
      yAxis: { type: "value", min: 0, max: top, axisLabel: { formatter: formatter(s.unit) } },
      series: [
        {
          name: s.label,
          type: "line",
          showSymbol: false,
          areaStyle: { opacity: 0.12 },
          data: spec.rows.map(function (row) {
            return [row[0], row[1]];
          }),
          tooltip: { valueFormatter: formatter(s.unit) },
        },
        {
          name: data.words.equality,
          type: "line",
          showSymbol: false,
          lineStyle: { type: "dashed", width: 1 },
          data: [
            [0, 0],
            [top, top],
          ],
        },
      ],
    };
  }

  function sparkline(spec) {
    var s = spec.series[0];
    return {
      tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: formatter(s.unit) },
      grid: { left: 2, right: 2, top: 4, bottom: 4 },
      xAxis: { type: "category", show: false, boundaryGap: false, data: column(spec, 0) },
      yAxis: { type: "value", show: false, scale: true },
      series: [
        {
          name: s.label,
          type: "line",
          showSymbol: false,
          lineStyle: { width: 1.5 },
          areaStyle: { opacity: 0.12 },
          data: column(spec, 1),
        },
      ],
    };
  }

  function options(spec, box) {
    switch (spec.kind) {
      case "line":
        return axes(spec, "line", false);
      case "bar":
        return axes(spec, "bar", false);
      case "stacked_bar":
        return axes(spec, "bar", true);
      case "pie":
        return pie(spec);
      case "heatmap":
        return heatmap(spec, box);
      case "lorenz":
        return lorenz(spec);
      default:
        return sparkline(spec);
    }
  }

  var drawn = [];
  data.charts.concat(data.sparks).forEach(function (spec) {
    var box = document.getElementById(spec.id);
    if (!box) {
      return;
    }
    var option = options(spec, box);
    var chart = echarts.init(box);
    chart.setOption(option);
    drawn.push(chart);
  });

  function resize() {
    drawn.forEach(function (chart) {
      chart.resize();
    });
  }
  window.addEventListener("resize", resize);
  // Printed pages are narrower than the screen: draw again at the paper's width.
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
})();
