// The page's behaviour: asks the API (POST /predict, GET /talks/<i>/related)
// and draws the answers as cards. Text from the corpus only ever goes into
// the page through textContent, never as markup.
"use strict";

(() => {
  const form = document.getElementById("busca");
  const submitButton = form.querySelector("button[type=submit]");
  const errorBox = document.getElementById("erro");
  const results = document.getElementById("resultados");
  const trail = document.getElementById("caminho");
  const heading = document.getElementById("titulo-resultados");
  const situation = document.getElementById("situacao");
  const list = document.getElementById("lista");
  const likelyTracks = document.getElementById("trilhas-provaveis");
  const names = JSON.parse(document.getElementById("nomes").textContent);

  // What the person went through: the search, then each talk whose related
  // talks they opened. The last one is on screen; the others are the trail.
  const views = [];

  const { decimal, element, callApi, percent } = window.palestras; // static/comum.js

  function showError(message) {
    errorBox.textContent = message;
  }

  async function withBusyPage(task) {
    showError("");
    submitButton.disabled = true;
    results.setAttribute("aria-busy", "true");
    try {
      await task();
    } catch (error) {
      showError(error.message);
    } finally {
      submitButton.disabled = false;
      results.removeAttribute("aria-busy");
    }
  }

  // -- the length limits ----------------------------------------------------

  // Under each text field, how much of its maxlength (the API's limit) is used.
  for (const field of [form.elements.title, form.elements.description]) {
    const counter = document.getElementById(`${field.id}-contador`);
    const limit = field.maxLength.toLocaleString("pt-BR");
    const count = () => {
      counter.textContent = `${field.value.length.toLocaleString("pt-BR")} de ${limit} caracteres`;
    };
    field.addEventListener("input", count);
    count();
  }

  // -- the search ---------------------------------------------------------

  function searchBody() {
    const data = new FormData(form);
    return {
      title: data.get("title"),
      description: data.get("description"),
      n_results: data.get("n_results"),
      ano: data.getAll("ano"),
      cidade: data.getAll("cidade"),
      trilha: data.getAll("trilha").filter((value) => value !== ""),
    };
  }

  function hasFilters(body) {
    return body.ano.length + body.cidade.length + body.trilha.length > 0;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = searchBody();
    if (!body.title.trim() && !body.description.trim()) {
      showError("Escreva um título ou uma descrição para buscar.");
      form.elements.title.focus();
      return;
    }
    withBusyPage(async () => {
      const answer = await callApi("/predict", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      views.length = 0;
      views.push({
        trailLabel: "Busca",
        heading: `Parecidas com “${body.title.trim() || body.description.trim()}”`,
        empty: hasFilters(body)
          ? "Nenhuma palestra com os filtros escolhidos tem termos em comum com a busca. Tente tirar um filtro."
          : "Nenhuma palestra tem termos em comum com a busca. Tente outras palavras.",
        predictions: answer.predictions,
        likelyTracks: answer.likely_tracks,
        tracksNote: answer.tracks_note,
      });
      showView();
    });
  });

  // -- walking through related talks ------------------------------------

  function relatedCount() {
    const field = form.elements.n_results;
    return field.checkValidity() ? field.value : field.defaultValue;
  }

  function openRelated(talk) {
    withBusyPage(async () => {
      const answer = await callApi(`/talks/${talk.index}/related?n_results=${encodeURIComponent(relatedCount())}`);
      views.push({
        trailLabel: talk.title,
        heading: `Relacionadas a “${talk.title}”`,
        empty: "Nenhuma outra palestra tem termos em comum com esta.",
        predictions: answer.predictions,
      });
      showView();
      heading.focus();
    });
  }

  function backTo(position) {
    views.length = position + 1;
    showView();
    heading.focus();
  }

  // -- drawing ------------------------------------------------------------

  function showView() {
    const view = views[views.length - 1];
    drawTrail();
    heading.textContent = view.heading;
    const count = view.predictions.length;
    situation.textContent =
      count === 0 ? view.empty : count === 1 ? "1 palestra encontrada." : `${count} palestras encontradas.`;
    list.replaceChildren(...view.predictions.map(card));
    drawLikelyTracks(view);
  }

  // The search's likely tracks in one line (a related talk's track is known: none then).
  function drawLikelyTracks(view) {
    const tracks = (view.likelyTracks || []).map((track) => `${track.name} (${percent(track.probability)})`);
    const note = view.tracksNote ? names.notas[view.tracksNote] || "" : "";
    likelyTracks.replaceChildren();
    if (tracks.length) likelyTracks.append(element("strong", {}, "Trilhas prováveis: "), tracks.join(" · "));
    if (note) likelyTracks.append(tracks.length ? " " : "", note);
    likelyTracks.hidden = !tracks.length && !note;
  }

  function drawTrail() {
    const steps = trail.querySelector("ol");
    steps.replaceChildren();
    trail.hidden = views.length < 2;
    views.forEach((view, position) => {
      const step = element("li");
      if (position === views.length - 1) {
        step.append(element("span", { "aria-current": "page" }, view.trailLabel));
      } else {
        const button = element("button", { type: "button", class: "link" }, view.trailLabel);
        button.addEventListener("click", () => backTo(position));
        step.append(button);
      }
      steps.append(step);
    });
  }

  function card(talk) {
    const item = element("li", { class: "cartao", "data-index": talk.index, "data-score": talk.score });
    const titleId = `palestra-${views.length}-${talk.index}`;
    const article = element("article", { "aria-labelledby": titleId });
    article.append(element("h3", { id: titleId }, talk.title || "(sem título)"));

    const city = talk.cidade && (names.cidade[talk.cidade] || talk.cidade);
    // The query is this very talk, given again (the API's same_talk): said first, in words.
    if (talk.same_talk) {
      const edition = ["TDC", city, talk.ano && String(talk.ano)].filter(Boolean).join(" ");
      article.append(element("p", { class: "ja-apresentada" }, `Já apresentada em ${edition}`));
    }
    const facts = [
      talk.trilha && `Trilha ${names.trilha[talk.trilha] || talk.trilha}`,
      city,
      talk.ano && String(talk.ano),
    ].filter(Boolean);
    if (facts.length) article.append(element("p", { class: "fatos" }, facts.join(" · ")));

    article.append(scoreBar(talk.score));
    if (talk.description) {
      const details = element("details");
      details.append(element("summary", {}, "Descrição"), element("p", {}, talk.description));
      article.append(details);
    }
    if (talk.terms && talk.terms.length) article.append(reasons(talk.terms));

    const actions = element("div", { class: "acoes" });
    const related = element("button", { type: "button", class: "secundario relacionadas" }, "Palestras relacionadas");
    related.addEventListener("click", () => openRelated(talk));
    actions.append(related);
    if (/^https?:\/\//i.test(talk.trilha_url || "")) {
      const link = element("a", { href: talk.trilha_url, rel: "noopener noreferrer", target: "_blank" },
        "Página da trilha");
      link.append(element("span", { class: "so-leitor" }, " (abre em nova aba)"));
      actions.append(link);
    }
    article.append(actions);
    item.append(article);
    return item;
  }

  function scoreBar(score) {
    const box = element("div", { class: "semelhanca" });
    const label = element("span", { class: "rotulo" }, "Semelhança");
    const bar = element("span", { class: "barra", "aria-hidden": "true" });
    const fill = element("span", { class: "barra-valor" });
    fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
    bar.append(fill);
    box.append(label, bar, element("span", { class: "valor" }, decimal(score)));
    return box;
  }

  function reasons(terms) {
    const box = element("div", { class: "por-que" });
    box.append(element("h4", {}, "Por que: termos em comum que mais pesam"));
    const chips = element("ul", { class: "termos" });
    for (const term of terms) {
      const chip = element("li", { class: "termo" });
      chip.append(element("span", {}, term.term), element("span", { class: "peso" }, `+${decimal(term.weight, 3)}`));
      chips.append(chip);
    }
    box.append(chips);
    return box;
  }
})();
