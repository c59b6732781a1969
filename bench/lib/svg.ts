/**
 * A hand-written SVG grouped bar chart: one panel per scenario (each with
 * its own y scale, since 1 MiB bodies run at a hundredth of the small-GET
 * rate), one bar per proxy, a shared legend. Pure string building.
 * @module
 */

/** One bar colour and name, the same in every panel. */
export interface ChartSeries {
  name: string;
  /** CSS colour. */
  color: string;
}

/** One group of bars (a scenario). */
export interface ChartPanel {
  /** Category label under the panel. */
  title: string;
  /** One value per series, `undefined` for a missing (failed) bar. */
  values: readonly (number | undefined)[];
  /** Optional second line per bar, e.g. the ratio to the reference. */
  annotations?: readonly (string | undefined)[];
}

/** The whole chart. */
export interface BarChart {
  title: string;
  subtitle?: string;
  /** Y axis label, shared by all panels. */
  yLabel: string;
  /** X axis caption under the panels. */
  xLabel: string;
  series: readonly ChartSeries[];
  panels: readonly ChartPanel[];
}

/**
 * Round tick values from 0 to at least `max`, about `count` of them, with a
 * step of 1, 2 or 5 times a power of ten.
 *
 * @example
 * ```ts
 * niceTicks(83000); // [0, 20000, 40000, 60000, 80000, 100000]
 * ```
 */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const steps = Math.ceil(max / step - 1e-9);
  // toPrecision kills float noise such as 0.30000000000000004.
  return Array.from({ length: steps + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

/**
 * A compact number for axis ticks and bar labels: `950`, `12.5k`, `1.2M`.
 *
 * @example
 * ```ts
 * formatShort(83066); // "83.1k"
 * ```
 */
export function formatShort(n: number): string {
  const trim = (s: string) => s.replace(/\.0$/, "");
  if (Math.abs(n) >= 1e6) return `${trim((n / 1e6).toFixed(1))}M`;
  if (Math.abs(n) >= 1e3) return `${trim((n / 1e3).toFixed(1))}k`;
  if (Math.abs(n) >= 10 || n === 0) return `${Math.round(n)}`;
  return trim(n.toFixed(1));
}

/**
 * A bar label with three significant digits: `63.4k`, `1.40k`, `950`.
 *
 * @example
 * ```ts
 * formatValue(1402); // "1.40k"
 * ```
 */
export function formatValue(n: number): string {
  for (const [scale, suffix] of [[1e6, "M"], [1e3, "k"]] as const) {
    if (Math.abs(n) >= scale) return `${(n / scale).toPrecision(3)}${suffix}`;
  }
  return Math.abs(n) >= 100 ? `${Math.round(n)}` : n.toPrecision(3);
}

/**
 * Escapes text for SVG element content and attribute values.
 *
 * @example
 * ```ts
 * escapeXml("a < b & c"); // "a &lt; b &amp; c"
 * ```
 */
export function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

const WIDTH = 1000;
const MARGIN_LEFT = 70;
const MARGIN_RIGHT = 20;
const PANEL_GAP = 44;
const PLOT_TOP = 120;
const PLOT_HEIGHT = 300;
const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";

function text(
  x: number,
  y: number,
  content: string,
  attrs = "",
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(content)}</text>`;
}

/**
 * Renders the chart as a standalone SVG document.
 *
 * @example
 * ```ts
 * const svg = barChartSvg({
 *   title: "Requests per second", yLabel: "req/s", xLabel: "scenario",
 *   series: [{ name: "nginx", color: "#2b8a3e" }],
 *   panels: [{ title: "keep-alive", values: [83000] }],
 * });
 * ```
 */
export function barChartSvg(chart: BarChart): string {
  const n = Math.max(1, chart.panels.length);
  const panelWidth = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT - PANEL_GAP * (n - 1)) / n;
  const baseline = PLOT_TOP + PLOT_HEIGHT;
  const height = baseline + 110;
  const out: string[] = [];

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12" role="img">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(WIDTH / 2, 28, chart.title, 'text-anchor="middle" font-size="18" font-weight="600"'),
  );
  if (chart.subtitle) {
    out.push(text(WIDTH / 2, 48, chart.subtitle, 'text-anchor="middle" fill="#555"'));
  }

  // Legend, centred in one row.
  const itemWidth = chart.series.map((s) => 26 + s.name.length * 7.2);
  const legendWidth = itemWidth.reduce((a, b) => a + b, 0);
  let lx = (WIDTH - legendWidth) / 2;
  chart.series.forEach((s, i) => {
    out.push(
      `<rect x="${lx.toFixed(1)}" y="64" width="14" height="14" fill="${escapeXml(s.color)}"/>`,
      text(lx + 19, 75.5, s.name),
    );
    lx += itemWidth[i];
  });

  // Shared y axis label, rotated, left of the first panel.
  out.push(
    text(
      18,
      PLOT_TOP + PLOT_HEIGHT / 2,
      chart.yLabel,
      `text-anchor="middle" transform="rotate(-90 18 ${
        PLOT_TOP + PLOT_HEIGHT / 2
      })" font-size="13"`,
    ),
  );

  chart.panels.forEach((panel, p) => {
    const x0 = MARGIN_LEFT + p * (panelWidth + PANEL_GAP);
    const present = panel.values.filter((v): v is number => v !== undefined);
    const ticks = niceTicks(Math.max(0, ...present));
    const top = ticks[ticks.length - 1];
    const y = (v: number) => baseline - (v / top) * PLOT_HEIGHT;

    for (const t of ticks) {
      const ty = y(t);
      out.push(
        `<line x1="${x0}" x2="${(x0 + panelWidth).toFixed(1)}" y1="${ty.toFixed(1)}" y2="${
          ty.toFixed(1)
        }" stroke="${t === 0 ? "#333" : "#e3e3e3"}"/>`,
        text(x0 - 6, ty + 4, formatShort(t), 'text-anchor="end" fill="#444" font-size="11"'),
      );
    }
    out.push(
      `<line x1="${x0}" x2="${x0}" y1="${PLOT_TOP}" y2="${baseline}" stroke="#333"/>`,
    );

    const slots = Math.max(1, chart.series.length);
    const slot = panelWidth / slots;
    const barWidth = Math.min(48, slot * 0.72);
    chart.series.forEach((s, i) => {
      const cx = x0 + slot * (i + 0.5);
      const v = panel.values[i];
      if (v === undefined) {
        out.push(text(cx, baseline - 6, "failed", 'text-anchor="middle" fill="#b00020"'));
        return;
      }
      const by = y(v);
      out.push(
        `<rect x="${(cx - barWidth / 2).toFixed(1)}" y="${by.toFixed(1)}" width="${
          barWidth.toFixed(1)
        }" height="${(baseline - by).toFixed(1)}" fill="${escapeXml(s.color)}">` +
          `<title>${escapeXml(`${s.name}: ${v.toFixed(1)}`)}</title></rect>`,
        text(cx, by - 5, formatValue(v), 'text-anchor="middle" font-size="11"'),
      );
      const note = panel.annotations?.[i];
      if (note) {
        out.push(text(cx, baseline + 15, note, 'text-anchor="middle" fill="#555" font-size="10"'));
      }
    });

    out.push(
      text(
        x0 + panelWidth / 2,
        baseline + 38,
        panel.title,
        'text-anchor="middle" font-size="13" font-weight="600"',
      ),
    );
  });

  out.push(
    text(
      MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2,
      baseline + 72,
      chart.xLabel,
      'text-anchor="middle" fill="#333" font-size="13"',
    ),
    "</svg>",
  );
  return out.join("\n") + "\n";
}
