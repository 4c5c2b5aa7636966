// The console's own behaviour: cue clicks seek the players; the cost charts draw.
"use strict";

document.addEventListener("click", (event) => {
  const row = event.target.closest("tr.cue");
  if (!row) return;
  seekTo(parseFloat(row.dataset.start));
  document.querySelectorAll("tr.cue.current").forEach((r) => r.classList.remove("current"));
  row.classList.add("current");
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches && event.target.matches("tr.cue")) {
    event.target.click();
  }
});

function seekTo(seconds) {
  for (const id of ["dub", "video"]) {
    const player = document.getElementById(id);
    if (!player) continue;
    const seek = () => { player.currentTime = seconds; };
    // A player without metadata yet cannot seek: do it once it knows its duration.
    if (player.readyState >= 1) seek();
    else player.addEventListener("loadedmetadata", seek, { once: true });
  }
}

const PALETTE = ["#2f6fdb", "#e0872b", "#2a9d5c", "#c2410c", "#7c3aed", "#0891b2", "#be185d", "#65a30d"];

function drawCharts() {
  const source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const draw = (canvasId, series, title) => {
    const canvas = document.getElementById(canvasId);
    if (!canvas) return;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: PALETTE[i % PALETTE.length] })),
      },
      options: {
        animation: false,
        responsive: true,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: title } } },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.series = String(series.length);
  };
  draw("cost-chart", data.cost, data.currency || "cost");
  draw("tokens-chart", data.tokens, "tokens");
}

document.addEventListener("DOMContentLoaded", drawCharts);
