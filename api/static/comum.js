// What both pages (palestras.js, revisar.js) use: numbers and probabilities as written in
// Portuguese, elements whose text only ever goes in through textContent, and
// API calls whose failures become one sentence for the person.
"use strict";

window.palestras = (() => {
  const decimal = (value, digits = 2) =>
    value.toLocaleString("pt-BR", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  // A probability as names.percent writes it: "41%", "<1%", ">99%".
  const percent = (probability) =>
    probability < 0.005 ? "<1%" : probability > 0.995 ? ">99%" : `${Math.round(probability * 100)}%`;

  function element(tag, attributes = {}, text = null) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== null) node.textContent = text;
    return node;
  }

  // The JSON answer of an API call; an Error with the API's message otherwise.
  async function callApi(url, options = {}) {
    let response;
    try {
      response = await fetch(url, { ...options, headers: { Accept: "application/json", ...options.headers } });
    } catch (error) {
      throw new Error("O servidor não respondeu. Verifique a conexão e tente de novo.");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      // An answer without JSON: the status says enough.
    }
    if (!response.ok) {
      const message = body && typeof body.message === "string" ? body.message : response.statusText;
      throw new Error(`A API recusou o pedido (erro ${response.status}): ${message}`);
    }
    return body;
  }

  return { decimal, element, callApi, percent };
})();
