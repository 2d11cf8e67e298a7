// Draws a lineage (Cytoscape elements from the json_script block) left to right:
// question → answer → context chunks → documents, with feedback/reviews/examples around.
(function () {
  var holder = document.getElementById("lineage-graph");
  var source = document.getElementById("lineage-elements");
  if (!holder || !source || typeof cytoscape === "undefined") return;
  var elements = JSON.parse(source.textContent);
  var narrow = holder.clientWidth < 600;  // phones: no edge labels, smaller node labels
  var colors = {
    question: "#2563eb", answer: "#111827", chunk: "#0d9488", document: "#0f766e",
    feedback: "#d97706", review: "#7c3aed", correction: "#a21caf", example: "#15803d",
    release: "#166534", topic: "#6b7280"
  };
  var cy = cytoscape({
    container: holder,
    elements: elements,
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
          "label": "data(label)", "background-color": function (n) { return colors[n.data("kind")] || "#999"; },
          "color": "#111827", "font-size": narrow ? 8 : 10, "text-wrap": "wrap",
          "text-max-width": narrow ? 80 : 140,
          "text-valign": "bottom", "text-margin-y": 4, "width": 22, "height": 22 } },
      { selector: "node[kind = 'answer']", style: { "width": 30, "height": 30, "shape": "round-rectangle" } },
      { selector: "edge", style: {
          "label": narrow ? "" : "data(label)", "font-size": 8, "color": "#6b7280",
          "curve-style": "bezier",
          "target-arrow-shape": "triangle", "width": 1.5, "line-color": "#cbd5e1",
          "target-arrow-color": "#cbd5e1", "text-rotation": "autorotate" } },
      { selector: ":selected", style: { "border-width": 3, "border-color": "#f59e0b" } }
    ],
    layout: { name: "breadthfirst", directed: false, spacingFactor: 1.2, padding: 20,
              roots: elements.filter(function (e) { return e.data.kind === "question"; })
                             .map(function (e) { return "#" + CSS.escape(e.data.id); }).join(",") || undefined }
  });
  var detail = document.getElementById("lineage-detail");
  cy.on("tap", "node", function (evt) {
    var d = evt.target.data();
    detail.textContent = d.label + (d.detail ? "\n\n" + d.detail : "");  // text, never HTML
  });
  window.lineageGraph = cy;
})();
