/// The auditors' console page: plain HTML, CSS and JavaScript, served as is by
/// `AuditConsole` (no build step, nothing loaded from elsewhere). Proofs and the
/// checkpoint's Ed25519 signature are checked in the browser with WebCrypto, not taken from
/// the server's word. The URL's query (`?channel=orders&proof=42`) fills the form, runs the
/// search and opens a proof, so a page can be linked to (and tested headless).
enum ConsolePage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Herald — auditors' console</title>
        <style>
        body { font: 14px system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
        header { background: #1d2330; color: #fff; padding: 10px 18px; display: flex; gap: 24px; align-items: baseline; }
        header h1 { font-size: 17px; margin: 0; }
        main { padding: 14px 18px; }
        section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 10px 14px; margin-bottom: 12px; }
        form { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
        label { display: flex; flex-direction: column; font-size: 12px; color: #556; }
        input, select { font: inherit; padding: 3px 6px; min-width: 90px; }
        button { font: inherit; padding: 4px 10px; cursor: pointer; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; }
        th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
        td.data { font-family: ui-monospace, monospace; word-break: break-all; }
        .ok { color: #137333; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
        .mono { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
        #chart svg { width: 100%; height: 140px; }
        </style>
        </head>
        <body>
        <header><h1>Herald auditors' console</h1><span id="checkpoint-line">checkpoint: loading…</span></header>
        <main>
        <section id="checkpoint">
          <div>Latest signed checkpoint: tree size <b id="tree-size">?</b>, root <span class="mono" id="root-hash">?</span></div>
          <div>Signature (checked here with WebCrypto Ed25519): <span id="signature-status">checking…</span>
            <span class="mono" id="verifier-key"></span></div>
        </section>
        <section>
          <form id="search">
            <label>from <input name="from" placeholder="-1h or RFC 3339"></label>
            <label>to <input name="to" placeholder="RFC 3339"></label>
            <label>channel <input name="channel"></label>
            <label>publisher <input name="publisher"></label>
            <label>class <select name="class"><option value="">any</option><option>group</option><option>memb</option><option>comm</option></select></label>
            <label>kind <input name="kind" placeholder="publish, join…"></label>
            <label>filter <input name="filter" placeholder="0:prefix:eu"></label>
            <button type="submit">Search</button>
            <button type="button" id="live">Live tail</button>
            <span id="status"></span>
          </form>
        </section>
        <section id="proof" hidden>
          <div>Inclusion proof of sequence <b id="proof-seq"></b>: <span id="proof-status"></span></div>
          <div class="mono" id="proof-detail"></div>
        </section>
        <section id="chart"><div>Events per minute per channel</div><svg id="chart-svg"></svg><div id="legend"></div></section>
        <section>
          <table>
            <thead><tr><th>seq</th><th>time</th><th>channel</th><th>kind</th><th>to</th><th>publisher</th><th>data</th><th></th></tr></thead>
            <tbody id="rows"></tbody>
          </table>
          <button id="more" hidden>More</button>
        </section>
        </main>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        const token = new URLSearchParams(location.search).get("token");
        let checkpoint = null, next = null, source = null;

        function api(path, params) {
          const query = new URLSearchParams(params || {});
          if (token) query.set("token", token);
          return fetch(path + "?" + query).then(async (response) => {
            const body = await response.json();
            if (!response.ok) throw new Error(body.error || response.statusText);
            return body;
          });
        }
        const hexToBytes = (hex) => new Uint8Array(hex.match(/../g)?.map((h) => parseInt(h, 16)) || []);
        const bytesToHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
        const base64ToBytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
        function concat(...parts) {
          const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let offset = 0;
          for (const p of parts) { out.set(p, offset); offset += p.length; }
          return out;
        }
        const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

        // RFC 9162 §2.1.3.2, in the browser.
        async function verifyInclusion(leaf, index, size, path, root) {
          if (index >= size) return false;
          let fn = BigInt(index), sn = BigInt(size) - 1n;
          let r = await sha256(concat(new Uint8Array([0]), leaf));
          for (const p of path) {
            if (sn === 0n) return false;
            if ((fn & 1n) === 1n || fn === sn) {
              r = await sha256(concat(new Uint8Array([1]), p, r));
              if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
            } else {
              r = await sha256(concat(new Uint8Array([1]), r, p));
            }
            fn >>= 1n; sn >>= 1n;
          }
          return sn === 0n && bytesToHex(r) === bytesToHex(root);
        }

        // C2SP signed-note: "— name base64(key hash ‖ signature)" over the body's bytes.
        async function verifyNote(note, verifierKey) {
          // name+hash+base64: the base64 key may itself contain "+".
          const first = verifierKey.indexOf("+"), second = verifierKey.indexOf("+", first + 1);
          const name = verifierKey.slice(0, first), keyBase64 = verifierKey.slice(second + 1);
          const split = note.indexOf("\n\n");
          const body = new TextEncoder().encode(note.slice(0, split + 1));
          const publicKey = base64ToBytes(keyBase64).slice(1);
          const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
          for (const line of note.slice(split + 2).split("\n")) {
            const fields = line.split(" ");
            if (fields.length !== 3 || fields[0] !== "\u2014" || fields[1] !== name) continue;
            const blob = base64ToBytes(fields[2]);
            if (await crypto.subtle.verify({ name: "Ed25519" }, key, blob.slice(4), body)) return true;
          }
          return false;
        }

        async function loadCheckpoint() {
          try {
            checkpoint = await api("/api/checkpoint");
            $("tree-size").textContent = checkpoint.treeSize;
            $("root-hash").textContent = checkpoint.rootHash;
            $("verifier-key").textContent = checkpoint.verifierKey;
            $("checkpoint-line").textContent = "checkpoint: " + checkpoint.origin + " @ " + checkpoint.treeSize;
            let valid;
            try { valid = await verifyNote(checkpoint.note, checkpoint.verifierKey); }
            catch (error) { valid = null; }
            const status = $("signature-status");
            if (valid === null) { status.textContent = "not checkable in this browser (the server says " + (checkpoint.signatureValid ? "valid" : "invalid") + ")"; }
            else { status.textContent = valid ? "valid" : "INVALID"; status.className = valid ? "ok" : "bad"; }
          } catch (error) {
            $("checkpoint-line").textContent = "checkpoint: " + error.message;
          }
        }

        function conditions() {
          const form = new FormData($("search"));
          const params = {};
          for (const [key, value] of form.entries()) if (value) params[key] = value;
          return params;
        }

        function addRow(row) {
          const tr = document.createElement("tr");
          tr.dataset.seq = row.seq;
          const to = row.route ? row.route.to : "";
          for (const text of [row.seq, row.time, row.channel_name || row.channel, row.kind, to, row.publisher, row.data]) {
            const td = document.createElement("td");
            td.textContent = text;
            tr.appendChild(td);
          }
          tr.lastChild.className = "data";
          const td = document.createElement("td");
          const button = document.createElement("button");
          button.textContent = "proof";
          button.onclick = () => showProof(row.seq);
          td.appendChild(button);
          tr.appendChild(td);
          $("rows").appendChild(tr);
        }

        async function search(more) {
          const params = conditions();
          if (more && next) params.after = next; else $("rows").textContent = "";
          $("status").textContent = "searching…";
          try {
            const page = await api("/api/query", params);
            page.rows.forEach(addRow);
            next = page.next || null;
            $("more").hidden = !next;
            $("status").textContent = $("rows").children.length + " rows";
            if (!more) drawChart(await api("/api/chart", conditions()));
          } catch (error) {
            $("status").textContent = error.message;
          }
        }

        // Stacked bars: one per minute, a colour per channel.
        function drawChart(chart) {
          const svg = $("chart-svg"), legend = $("legend");
          svg.textContent = "";
          legend.textContent = "";
          const minutes = chart.minutes;
          if (!minutes.length) return;
          const channels = [...new Set(minutes.flatMap((m) => Object.keys(m.counts)))].sort();
          const colors = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"];
          const total = (m) => Object.values(m.counts).reduce((a, b) => a + b, 0);
          const max = Math.max(...minutes.map(total), 1);
          const width = svg.clientWidth || 800, height = 130;
          const step = Math.min(width / minutes.length, 60);
          minutes.forEach((m, i) => {
            let top = height;
            channels.forEach((channel, c) => {
              const value = m.counts[channel] || 0;
              if (!value) return;
              const h = value / max * (height - 10);
              top -= h;
              const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
              bar.setAttribute("x", (i * step + 2).toFixed(1));
              bar.setAttribute("y", top.toFixed(1));
              bar.setAttribute("width", Math.max(step - 4, 1).toFixed(1));
              bar.setAttribute("height", h.toFixed(1));
              bar.setAttribute("fill", colors[c % colors.length]);
              const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
              title.textContent = m.minute + " " + channel + ": " + value;
              bar.appendChild(title);
              svg.appendChild(bar);
            });
          });
          channels.forEach((channel, c) => {
            const item = document.createElement("span");
            item.style.color = colors[c % colors.length];
            item.textContent = "\u25a0 " + channel + "  ";
            legend.appendChild(item);
          });
          legend.appendChild(document.createTextNode("(" + minutes.length + (minutes.length === 1 ? " minute" : " minutes") + ", busiest " + max + " events)"));
        }

        async function showProof(seq) {
          $("proof").hidden = false;
          $("proof-seq").textContent = seq;
          const status = $("proof-status");
          status.textContent = "checking…";
          status.className = "";
          try {
            if (!checkpoint) await loadCheckpoint();
            const proof = await api("/api/proof", { seq });
            const root = hexToBytes(proof.rootHash);
            const inTree = await verifyInclusion(hexToBytes(proof.leaf), proof.leafIndex, proof.treeSize, proof.auditPath.map(hexToBytes), root);
            const signed = checkpoint && proof.treeSize === checkpoint.treeSize && proof.rootHash === checkpoint.rootHash;
            const ok = inTree && signed;
            status.textContent = ok ? "verified" : "NOT VERIFIED";
            status.className = ok ? "ok" : "bad";
            $("proof-detail").textContent = "leaf " + proof.leafIndex + " of " + proof.treeSize + ", " + proof.auditPath.length +
              " hashes to root " + proof.rootHash + (signed ? " (the signed checkpoint's root)" : " (not the signed checkpoint's root)");
          } catch (error) {
            status.textContent = "NOT VERIFIED: " + error.message;
            status.className = "bad";
          }
        }

        $("search").onsubmit = (event) => { event.preventDefault(); search(false); };
        $("more").onclick = () => search(true);
        $("live").onclick = () => {
          if (source) { source.close(); source = null; $("live").textContent = "Live tail"; return; }
          const channel = conditions().channel;
          if (!channel) { $("status").textContent = "live tail: give a channel"; return; }
          const query = new URLSearchParams({ channel });
          if (token) query.set("token", token);
          source = new EventSource("/api/tail?" + query);
          source.onmessage = (message) => addRow(JSON.parse(message.data));
          $("live").textContent = "Stop";
        };

        (async () => {
          const params = new URLSearchParams(location.search);
          for (const [key, value] of params.entries()) {
            const input = document.querySelector("#search [name=" + key + "]");
            if (input) input.value = value;
          }
          await loadCheckpoint();
          await search(false);
          if (params.get("proof")) await showProof(Number(params.get("proof")));
        })();
        </script>
        </body>
        </html>
        """#
}
