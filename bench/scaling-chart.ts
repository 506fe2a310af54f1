/**
 * The scaling chart as SVG, drawn by hand: two panels (connections, wallets), bars of transfers/s
 * on the left axis and p99 as a line on the right one, every value written on the chart. A few
 * dozen lines instead of vega + vega-lite and their dependencies, for one fixed chart.
 */
export interface ScalingPoint {
  /** Which panel the point belongs to. */
  axis: 'connections' | 'wallets'
  connections: number
  wallets: number
  transfersPerSecond: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
  cofferCpuMsPerTransfer: number | null
  /** Cores other processes kept busy meanwhile: above 0.2, the point understates Coffer. */
  otherCores: number | null
}

const WIDTH = 1020
const HEIGHT = 420
const PANEL = { top: 70, bottom: 70, width: 380, gap: 110, left: 80 }
const BAR = '#4c78a8'
const LINE = '#e45756'

const xmlText = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const compact = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n))

/** A round number at or above `value` for an axis top. */
function niceTop(value: number): number {
  if (value <= 0) return 1
  const step = 10 ** Math.floor(Math.log10(value))
  return Math.ceil(value / step) * step
}

export function renderScalingChart(points: ScalingPoint[], subtitle: string): string {
  const rateTop = niceTop(Math.max(...points.map((p) => p.transfersPerSecond)))
  const p99Top = niceTop(Math.max(...points.map((p) => p.p99Ms)))
  const plotHeight = HEIGHT - PANEL.top - PANEL.bottom
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12" role="img" aria-labelledby="chart-title">`,
    `<title id="chart-title">Coffer random-pair transfers per second and p99 latency by connections and by wallets</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Random-pair transfers as the work grows</text>`,
    `<text x="${WIDTH / 2}" y="44" text-anchor="middle" fill="#555">${xmlText(subtitle)}</text>`,
  ]
  const panels: { axis: ScalingPoint['axis']; title: string; label: (p: ScalingPoint) => string }[] = [
    { axis: 'connections', title: 'connections (10,000 wallets)', label: (p) => String(p.connections) },
    { axis: 'wallets', title: 'wallets (64 connections)', label: (p) => compact(p.wallets) },
  ]
  panels.forEach((panel, index) => {
    const x0 = PANEL.left + index * (PANEL.width + PANEL.gap)
    const y0 = PANEL.top
    const yBase = y0 + plotHeight
    const data = points.filter((p) => p.axis === panel.axis)
    const slot = PANEL.width / Math.max(1, data.length)
    // Axes and gridlines: transfers/s on the left, p99 ms on the right.
    for (let i = 0; i <= 4; i += 1) {
      const y = yBase - (plotHeight * i) / 4
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + PANEL.width}" y2="${y}" stroke="#ddd"/>`)
      out.push(
        `<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" fill="${BAR}">${fmt((rateTop * i) / 4)}</text>`,
      )
      out.push(
        `<text x="${x0 + PANEL.width + 6}" y="${y + 4}" fill="${LINE}">${fmt((p99Top * i) / 4)}</text>`,
      )
    }
    out.push(`<line x1="${x0}" y1="${yBase}" x2="${x0 + PANEL.width}" y2="${yBase}" stroke="#333"/>`)
    out.push(
      `<text x="${x0 + PANEL.width / 2}" y="${yBase + 40}" text-anchor="middle" font-weight="bold">${xmlText(panel.title)}</text>`,
    )
    const line: string[] = []
    data.forEach((p, i) => {
      const cx = x0 + slot * (i + 0.5)
      const barHeight = (plotHeight * p.transfersPerSecond) / rateTop
      out.push(
        `<rect x="${cx - slot * 0.3}" y="${yBase - barHeight}" width="${slot * 0.6}" height="${barHeight}" fill="${BAR}"/>`,
      )
      out.push(
        `<text x="${cx}" y="${yBase - barHeight - 6}" text-anchor="middle" fill="${BAR}">${fmt(p.transfersPerSecond)}/s</text>`,
      )
      out.push(`<text x="${cx}" y="${yBase + 18}" text-anchor="middle">${xmlText(panel.label(p))}</text>`)
      const py = yBase - (plotHeight * p.p99Ms) / p99Top
      line.push(`${cx},${py}`)
      out.push(`<circle cx="${cx}" cy="${py}" r="4" fill="${LINE}"/>`)
      out.push(`<text x="${cx + 7}" y="${py - 7}" fill="${LINE}">p99 ${fmt(p.p99Ms)} ms</text>`)
    })
    out.push(`<polyline points="${line.join(' ')}" fill="none" stroke="${LINE}" stroke-width="2"/>`)
  })
  out.push(
    `<text x="14" y="${PANEL.top + plotHeight / 2}" transform="rotate(-90 14 ${PANEL.top + plotHeight / 2})" text-anchor="middle" fill="${BAR}">transfers/s (bars)</text>`,
    `<text x="${WIDTH - 12}" y="${PANEL.top + plotHeight / 2}" transform="rotate(90 ${WIDTH - 12} ${PANEL.top + plotHeight / 2})" text-anchor="middle" fill="${LINE}">p99 ms (line)</text>`,
    '</svg>',
    '',
  )
  return out.join('\n')
}
