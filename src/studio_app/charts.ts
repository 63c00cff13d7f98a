/** Small line charts on a canvas: per-epoch curves (training and held-out), redrawn after every epoch. */

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

export function drawChart(canvas: HTMLCanvasElement, title: string, series: readonly Series[], range?: [number, number]): void {
  const ctx = canvas.getContext("2d")!;
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#1d2330";
  ctx.fillText(title, 8, 14);
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const n = Math.max(0, ...series.map((s) => s.values.length));
  if (all.length === 0) return;
  const [lo, hi] = range ?? [Math.min(0, ...all), Math.max(...all) || 1];
  const left = 36;
  const top = 22;
  const right = w - 8;
  const bottom = h - 18;
  ctx.strokeStyle = "#c9ced8";
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.fillStyle = "#5b6475";
  ctx.fillText(hi.toPrecision(2), 2, top + 8);
  ctx.fillText(lo.toPrecision(2), 2, bottom);
  ctx.fillText(`epoch ${n}`, right - 56, h - 4);
  const x = (i: number) => left + (n <= 1 ? (right - left) / 2 : (i * (right - left)) / (n - 1));
  const y = (v: number) => bottom - ((v - lo) / (hi - lo || 1)) * (bottom - top);
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let open = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return void (open = false);
      if (open) ctx.lineTo(x(i), y(v));
      else ctx.moveTo(x(i), y(v));
      open = true;
      ctx.fillRect(x(i) - 2, y(v) - 2, 4, 4);
    });
    ctx.stroke();
    ctx.fillText(s.label, left + 8 + k * 110, top + 14);
  });
}
