// "Revisar submissões": sends a CSV of a call's submissions to POST /review
// and draws one row per submission, the already-given and duplicate marks
// first, each with its suggested tracks (flagged when its own track is not
// among them); "Baixar CSV" saves what is on screen. Submitted text only ever goes
// into the page through textContent, never as markup.
"use strict";

(() => {
  const form = document.getElementById("revisao");
  const fileField = document.getElementById("arquivo");
  const submitButton = form.querySelector("button[type=submit]");
  const errorBox = document.getElementById("erro");
  const results = document.getElementById("resultados");
  const situation = document.getElementById("situacao");
  const table = document.getElementById("tabela");
  const rows = table.querySelector("tbody");
  const onlyMarked = document.getElementById("so-marcadas");
  const onlyOtherTrack = document.getElementById("so-trilha-diferente");
  const download = document.getElementById("baixar");
  const names = JSON.parse(document.getElementById("nomes").textContent);

  let answer = null; // the last review, for the download

  const { decimal, element, callApi, percent } = window.palestras; // static/comum.js
  const plural = (count, one, many) => `${count.toLocaleString("pt-BR")} ${count === 1 ? one : many}`;

  function edition(talk) {
    const city = talk.cidade && (names.cidade[talk.cidade] || talk.cidade);
    return ["TDC", city, talk.ano && String(talk.ano)].filter(Boolean).join(" ");
  }

  // -- sending --------------------------------------------------------------

  async function review(file) {
    errorBox.textContent = "";
    const count = form.elements.n_results;
    const nResults = count.checkValidity() ? count.value : count.defaultValue;
    submitButton.disabled = true;
    results.setAttribute("aria-busy", "true");
    situation.textContent = `Revisando ${file.name}…`;
    try {
      answer = await callApi(`/review?n_results=${encodeURIComponent(nResults)}`, {
        method: "POST",
        headers: { "Content-Type": "text/csv" },
        body: await file.text(),
      });
      draw();
    } catch (error) {
      errorBox.textContent = error.message;
      situation.textContent = "O resultado aparece aqui.";
    } finally {
      submitButton.disabled = false;
      results.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = fileField.files[0];
    if (!file) {
      errorBox.textContent = "Escolha o arquivo CSV das submissões.";
      fileField.focus();
      return;
    }
    review(file);
  });

  // A file dropped anywhere on the form is reviewed at once.
  form.addEventListener("dragover", (event) => {
    event.preventDefault();
    form.classList.add("soltar");
  });
  form.addEventListener("dragleave", () => form.classList.remove("soltar"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("soltar");
    const file = event.dataTransfer.files[0];
    if (file) review(file);
  });

  // -- drawing --------------------------------------------------------------

  const alreadyGiven = (submission) => submission.related.filter((talk) => talk.same_talk);
  const isMarked = (submission) => alreadyGiven(submission).length > 0 || submission.duplicates.length > 0;
  const trackDiffers = (submission) => (submission.track_check || {}).status === "differs";
  const suggestedTracks = (submission, separator) =>
    submission.suggested_tracks.map((track) => `${track.name} (${percent(track.probability)})`).join(separator);
  const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);

  function draw() {
    const summary = answer.summary;
    const skipped = Object.values(summary.skipped).reduce((sum, count) => sum + count, 0);
    situation.textContent = [
      `${plural(summary.submissions, "submissão revisada", "submissões revisadas")}`,
      `${plural(summary.already_given, "já apresentada", "já apresentadas")}`,
      `${plural(summary.duplicate_groups, "grupo de duplicadas", "grupos de duplicadas")}`,
      summary.tracks_not_comparable
        ? `trilhas escolhidas não comparadas: ${names.notas[summary.tracks_not_comparable] || ""}`
        : `${summary.tracks_differ.toLocaleString("pt-BR")} com trilha sugerida diferente da escolhida`,
      skipped ? `${plural(skipped, "linha ignorada", "linhas ignoradas")} (sem título nem descrição)` : "",
    ].filter(Boolean).join(" · ") + ".";
    // The marked ones first, then in the file's order.
    const ordered = [...answer.submissions].sort((a, b) => (isMarked(b) - isMarked(a)) || (a.row - b.row));
    rows.replaceChildren(...ordered.map(row));
    table.hidden = false;
    download.hidden = false;
    filter();
  }

  function row(submission) {
    const line = element("tr", {
      "data-marcada": isMarked(submission) ? "sim" : "nao",
      "data-trilha-diferente": trackDiffers(submission) ? "sim" : "nao",
    });
    line.append(element("td", {}, String(submission.id)));
    const text = element("td");
    text.append(element("strong", {}, submission.title || "(sem título)"));
    line.append(text);

    const marks = element("td");
    for (const talk of alreadyGiven(submission)) {
      marks.append(element("span", { class: "marca ja-dada" }, `Já apresentada em ${edition(talk)}`));
    }
    if (submission.duplicates.length) {
      marks.append(element("span", { class: "marca duplicada" },
        `Duplicada: ${submission.duplicates.map(String).join(", ")}`));
    }
    if (trackDiffers(submission)) {
      marks.append(element("span", { class: "marca trilha-diferente" }, capitalized(submission.track_check.message)));
    }
    line.append(marks);

    const related = element("td");
    const list = element("ol");
    for (const talk of submission.related) {
      const item = element("li", {}, `${talk.title || "(sem título)"} — ${edition(talk)} (${decimal(talk.score)})`);
      list.append(item);
    }
    related.append(list);
    line.append(related);

    // The suggested tracks, and what they can't tell or what the own track is like.
    const tracks = element("td", { class: "sugestao" }, suggestedTracks(submission, " · "));
    const check = submission.track_check;
    const aside = [submission.tracks_note && names.notas[submission.tracks_note],
      check && check.status === "unknown" && capitalized(check.message)].filter(Boolean);
    for (const text of aside) tracks.append(element("span", { class: "dica" }, ` ${text}`));
    line.append(tracks);
    return line;
  }

  function filter() {
    for (const line of rows.children) {
      line.hidden = (onlyMarked.checked && line.dataset.marcada !== "sim")
        || (onlyOtherTrack.checked && line.dataset.trilhaDiferente !== "sim");
    }
  }

  onlyMarked.addEventListener("change", filter);
  onlyOtherTrack.addEventListener("change", filter);

  // -- the download: the command line's CSV, one row per submission and related talk

  // As the command line's CSV (review_report.spreadsheet_safe): text a
  // spreadsheet would run as a formula gets a leading apostrophe.
  function csvField(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function csv() {
    const header = ["submission_id", "submission_title", "duplicates", "suggested_tracks", "track_check", "rank",
      "title", "description", "trilha", "ano", "cidade", "trilha_url", "index", "score", "same_talk", "terms"];
    const lines = [header];
    for (const submission of answer.submissions) {
      const head = [submission.id, submission.title, submission.duplicates.join("; "), suggestedTracks(submission, "; "),
        (submission.track_check || {}).status || ""];
      if (!submission.related.length) lines.push([...head, "", "", "", "", "", "", "", "", "", "", ""]);
      submission.related.forEach((talk, position) => {
        lines.push([...head, position + 1, talk.title, talk.description, talk.trilha, talk.ano, talk.cidade,
          talk.trilha_url, talk.index, talk.score.toFixed(4), talk.same_talk ? "true" : "false",
          talk.terms.map((term) => term.term).join("; ")]);
      });
    }
    return lines.map((line) => line.map(csvField).join(",")).join("\r\n") + "\r\n";
  }

  download.addEventListener("click", () => {
    const link = element("a", { download: "revisao.csv" });
    link.href = URL.createObjectURL(new Blob([csv()], { type: "text/csv;charset=utf-8" }));
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });
})();
