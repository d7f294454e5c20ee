"""The review's HTML report (``text_similarity_model review ... -o REPORT.html``):
one self-contained page in Portuguese (styles and script inline, nothing
fetched: it opens offline), to read and filter. :mod:`.report` writes it."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from ..names import TRACK_NOTES, city_name, percent, thousands, track_name
from .batch import CallReview

# The page's look (api/static/palestras.css): its colours, light and dark, and system fonts.
_STYLE = """
:root{--texto:#1d232b;--suave:#55606e;--fundo:#f6f7f9;--cartao:#fff;--borda:#d5dae1;--destaque:#0b5cad;
--barra:#e3e8ef;--alerta:#8a1c1c;--alerta-fundo:#fdecec;--foco:#f0a500;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--texto:#e8ecf1;--suave:#a9b3bf;--fundo:#14181d;--cartao:#1e242b;
--borda:#3a444f;--destaque:#6cb2ff;--barra:#2f3842;--alerta:#ffc9c9;--alerta-fundo:#3d1f1f}}
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;
line-height:1.5;color:var(--texto);background:var(--fundo)}
header,main{max-width:60rem;margin:0 auto;padding:0 1rem}
h1{font-size:clamp(1.4rem,5vw,2rem);line-height:1.2;margin:1.5rem 0 .5rem}
h2,h3,h4{overflow-wrap:anywhere}
:focus-visible{outline:3px solid var(--foco);outline-offset:2px}
.suave{color:var(--suave)}
.resumo{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0;padding:0;list-style:none}
.resumo li{background:var(--cartao);border:1px solid var(--borda);border-radius:.5rem;padding:.5rem 1rem}
.resumo strong{display:block;font-size:1.5rem}
.grafico{background:var(--cartao);border:1px solid var(--borda);border-radius:.5rem;padding:.5rem 1rem}
.grafico svg{width:100%;height:auto;display:block;color:var(--destaque)}
.controles{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:1rem 0;background:var(--cartao);
border:1px solid var(--borda);border-radius:.5rem;padding:.75rem 1rem}
.controles label{display:flex;flex-direction:column;font-weight:600}
.controles label.opcao{flex-direction:row;gap:.35rem;font-weight:400}
input,select{font:inherit;color:inherit;background:var(--fundo);border:1px solid var(--borda);
border-radius:.375rem;padding:.35rem .5rem}
.submissoes{list-style:none;margin:0;padding:0}
.submissao{background:var(--cartao);border:1px solid var(--borda);border-radius:.5rem;padding:1rem;margin:0 0 1rem}
.submissao>h2{font-size:1.2rem;margin:0 0 .25rem}
.id{color:var(--suave);font-weight:400}
.marca{display:inline-block;margin:0 .35rem .35rem 0;padding:.1rem .6rem;border:1px solid var(--destaque);
border-radius:1rem;color:var(--destaque);font-size:.9rem;font-weight:600}
.marca.duplicata,.marca.trilha{border-color:var(--alerta);color:var(--alerta);background:var(--alerta-fundo)}
.sugestao{margin:0 0 .5rem}
.campos{color:var(--suave);margin:0 0 .5rem}
.relacionadas{margin:.5rem 0 0;padding-left:1.5rem}
.relacionadas li{margin:0 0 .75rem}
.relacionadas h3{font-size:1rem;margin:0}
.semelhanca{display:flex;align-items:center;gap:.5rem;font-size:.9rem}
.barra{flex:0 1 10rem;height:.5rem;background:var(--barra);border-radius:.25rem;overflow:hidden}
.barra span{display:block;height:100%;background:var(--destaque)}
.termos{color:var(--suave);font-size:.9rem}
details{margin:.25rem 0}
summary{cursor:pointer;color:var(--suave)}
[hidden]{display:none!important}
.so-leitor{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
"""

# Filters and sorts the submissions in the page: no server, no library.
_SCRIPT = """
(function () {
  "use strict";
  var list = document.getElementById("submissoes");
  var items = Array.prototype.slice.call(list.children);
  var search = document.getElementById("filtro-texto");
  var given = document.getElementById("filtro-apresentadas");
  var duplicates = document.getElementById("filtro-duplicatas");
  var tracks = document.getElementById("filtro-trilhas");
  var order = document.getElementById("ordem");
  var count = document.getElementById("contagem");
  function fold(text) {
    return text.normalize("NFD").replace(/[\\u0300-\\u036f]/g, "").toLowerCase();
  }
  function update() {
    var words = fold(search.value).split(/\\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (item) {
      var text = fold(item.querySelector(".cabecalho").textContent);
      var visible = words.every(function (word) { return text.indexOf(word) >= 0; })
        && (!given.checked || item.dataset.apresentada === "1")
        && (!duplicates.checked || item.dataset.duplicata === "1")
        && (!tracks.checked || item.dataset.trilhaDiferente === "1");
      item.hidden = !visible;
      if (visible) shown += 1;
    });
    count.textContent = shown + " de " + items.length + " submissões";
  }
  function sort() {
    var key = order.value;
    var sorted = items.slice().sort(function (a, b) {
      if (key === "entrada") return a.dataset.ordem - b.dataset.ordem;
      var difference = b.dataset.melhor - a.dataset.melhor;
      return (key === "menor" ? -difference : difference) || a.dataset.ordem - b.dataset.ordem;
    });
    sorted.forEach(function (item) { list.appendChild(item); });
  }
  [search, given, duplicates, tracks].forEach(function (control) { control.addEventListener("input", update); });
  order.addEventListener("change", sort);
  update();
})();
"""

# Only the inline style and this very script may run: a submission's text,
# escaped everywhere, could not become code even if a bug let it into the markup.
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
_CONTENT_SECURITY_POLICY = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; "
                            "img-src data:; base-uri 'none'; form-action 'none'")


def write_html(review: CallReview, handle) -> None:
    summary = review.summary()
    handle.write(f"""<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">
<title>Revisão de submissões: {thousands(summary['submissions'])} submissões</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>Revisão de submissões</h1>
<p class="suave">Cada submissão comparada às {thousands(len(review.model))} palestras anteriores do TDC
(modelo {_html(review.model_version)}) e às outras submissões desta chamada.</p>
</header>
<main>
<section aria-labelledby="titulo-resumo">
<h2 id="titulo-resumo">Resumo</h2>
<ul class="resumo">
<li><strong id="total-submissoes">{thousands(summary['submissions'])}</strong> submissões</li>
<li><strong id="total-apresentadas">{thousands(summary['already_given'])}</strong> já apresentadas</li>
<li><strong id="total-grupos">{thousands(summary['duplicate_groups'])}</strong> grupos de duplicatas
({thousands(summary['in_duplicate_groups'])} submissões)</li>
<li><strong id="total-trilhas">{thousands(summary['tracks_differ'])}</strong> com trilha sugerida diferente da
escolhida</li>
<li><strong>{thousands(sum(summary['skipped'].values()))}</strong> linhas ignoradas{_skipped(summary['skipped'])}</li>
</ul>
{_not_comparable(summary)}
{_chart(review)}
</section>
<section aria-labelledby="titulo-submissoes">
<h2 id="titulo-submissoes">Submissões</h2>
<div class="controles" role="search">
<label>Filtrar por título, id ou campo <input id="filtro-texto" type="search" autocomplete="off"></label>
<label class="opcao"><input id="filtro-apresentadas" type="checkbox"> só já apresentadas</label>
<label class="opcao"><input id="filtro-duplicatas" type="checkbox"> só com duplicatas</label>
<label class="opcao"><input id="filtro-trilhas" type="checkbox"> só com trilha sugerida diferente da escolhida</label>
<label>Ordem <select id="ordem">
<option value="entrada">a do arquivo</option>
<option value="maior">mais parecidas com palestras anteriores primeiro</option>
<option value="menor">menos parecidas primeiro</option>
</select></label>
<p id="contagem" aria-live="polite" class="suave"></p>
</div>
<ol id="submissoes" class="submissoes">
""")
    best = review.best_scores()
    for position, result in enumerate(review.results()):
        handle.write(_submission(position, result, float(best[position])))
    handle.write(f"""</ol>
</section>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
""")


def _submission(position: int, result: dict, best: float) -> str:
    given = [talk for talk in result["related"] if talk["same_talk"]]
    marks = [f'<p class="marca">Já apresentada em {_html(_edition(talk))}</p>' for talk in given]
    if result["duplicates"]:
        others = ", ".join(f"#{_html(identity)}" for identity in result["duplicates"])
        marks.append(f'<p class="marca duplicata">Duplicata de {others}</p>')
    check = result["track_check"] or {}
    differs = check.get("status") == "differs"
    if check.get("message"):
        marks.append(f'<p class="{"marca trilha" if differs else "suave"}">{_html(_sentence(check["message"]))}</p>')
    fields = " · ".join(f"{_html(name)}: {_html(value)}" for name, value in result["fields"].items() if value)
    description = (f"<details><summary>Descrição da submissão</summary><p>{_html(result['description'])}</p></details>"
                   if result["description"] else "")
    related = "".join(_related(talk) for talk in result["related"]) or "<li>Nenhuma palestra anterior em comum.</li>"
    return (f'<li class="submissao" data-ordem="{position}" data-melhor="{best:.4f}" '
            f'data-apresentada="{int(bool(given))}" data-duplicata="{int(bool(result["duplicates"]))}" '
            f'data-trilha-diferente="{int(differs)}">'
            f'<article><div class="cabecalho"><h2><span class="id">#{_html(result["id"])}</span> '
            f'{_html(result["title"]) or "(sem título)"}</h2>'
            f'{"".join(marks)}{f"<p class=campos>{fields}</p>" if fields else ""}</div>{_suggestion(result)}{description}'
            f'<h3 class="so-leitor">Palestras anteriores mais parecidas</h3><ol class="relacionadas">{related}</ol>'
            f'</article></li>\n')


def _suggestion(result: dict) -> str:
    """The suggested tracks in a line, and what the suggestion can't tell."""
    tracks = " · ".join(f"{track['name']} ({percent(track['probability'])})" for track in result["suggested_tracks"])
    note = TRACK_NOTES.get(result["tracks_note"] or "", "")
    line = f"<strong>Trilha sugerida:</strong> {_html(tracks)}" if tracks else ""
    return f'<p class="sugestao">{line}{" " if line and note else ""}{_html(note)}</p>' if line or note else ""


def _not_comparable(summary: dict) -> str:
    why = summary["tracks_not_comparable"]
    return f'<p class="suave">Trilhas escolhidas não comparadas: {_html(TRACK_NOTES[why])}</p>' if why else ""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _related(talk: dict) -> str:
    facts = " · ".join(filter(None, [talk.get("trilha") and f"Trilha {track_name(talk['trilha'])}",
                                     talk.get("cidade") and city_name(talk["cidade"]),
                                     talk.get("ano") and str(talk["ano"])]))
    mark = f'<p class="marca">Já apresentada em {_html(_edition(talk))}</p>' if talk["same_talk"] else ""
    terms = ", ".join(_html(term["term"]) for term in talk["terms"])
    url = talk.get("trilha_url") or ""
    link = (f' <a href="{_html(url)}" rel="noopener noreferrer">página da trilha</a>'
            if url.lower().startswith(("http://", "https://")) else "")
    description = (f"<details><summary>Descrição</summary><p>{_html(talk['description'])}</p></details>"
                   if talk.get("description") else "")
    score = max(0.0, min(1.0, talk["score"]))
    return (f'<li><h3>{_html(talk.get("title") or "(sem título)")}</h3>{mark}'
            f'<p class="suave">{_html(facts)}{link}</p>'
            f'<div class="semelhanca"><span>Semelhança</span><span class="barra" aria-hidden="true">'
            f'<span style="width:{score * 100:.1f}%"></span></span><span>{_decimal(score)}</span></div>'
            f'{f"<p class=termos>Termos em comum: {terms}</p>" if terms else ""}{description}</li>')


def _chart(review: CallReview, width: int = 600, height: int = 120) -> str:
    """Each submission's best similarity, highest first, as one SVG path
    (at most ``width`` points: a batch of 100,000 draws no larger)."""
    best = sorted(review.best_scores().tolist(), reverse=True)
    if not best:
        return ""
    step = max(1, len(best) // width)
    points = best[::step]
    x = width / max(len(points) - 1, 1)
    path = " ".join(f"L{index * x:.1f},{height - value * height:.1f}" for index, value in enumerate(points))
    return (f'<figure class="grafico"><svg viewBox="-30 -10 {width + 40} {height + 30}" role="img" '
            f'aria-labelledby="titulo-grafico"><title id="titulo-grafico">Maior semelhança de cada submissão a '
            f'uma palestra anterior, da maior à menor</title>'
            f'<path d="M0,{height} {path} L{(len(points) - 1) * x:.1f},{height} Z" fill="currentColor" '
            f'fill-opacity="0.25" stroke="currentColor"/>'
            f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="currentColor" stroke-opacity="0.5"/>'
            f'<text x="-6" y="4" font-size="12" text-anchor="end" fill="currentColor">1</text>'
            f'<text x="-6" y="{height + 4}" font-size="12" text-anchor="end" fill="currentColor">0</text>'
            f'<text x="{width / 2}" y="{height + 18}" font-size="12" text-anchor="middle" fill="currentColor">'
            f'{thousands(len(best))} submissões, da mais à menos parecida com uma palestra anterior</text></svg>'
            f'<figcaption class="suave">Maior semelhança de cada submissão a uma palestra anterior '
            f'(mediana {_decimal(best[len(best) // 2])}).</figcaption></figure>')


def _edition(talk: dict) -> str:
    return " ".join(filter(None, ["TDC", talk.get("cidade") and city_name(talk["cidade"]),
                                  talk.get("ano") and str(talk["ano"])]))


def _skipped(skipped: dict) -> str:
    reasons = {"no text": "sem texto", "unreadable": "ilegíveis"}
    parts = [f"{thousands(count)} {reasons.get(reason, _html(reason))}" for reason, count in skipped.items()]
    return f" ({', '.join(parts)})" if parts else ""


def _html(value) -> str:
    """Any value as HTML text: submissions are untrusted, so everything is escaped, quotes too."""
    return escape(str(value), quote=True)


def _decimal(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")
