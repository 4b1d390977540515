"""The Library's uploader under `halsted serve` (not a page: app.py never registers it): the browser sends each
file to dashboard.py's upload routes (platform/uploads.py), which write it to disk as it arrives; Streamlit's
own uploader would hold the whole file in the server's memory. The browser first sends the name, the size and
the first megabyte, so a file that is too large, does not fit on the disk or is no video is refused before the
rest is sent. When every file is done the page reloads (the session survives it) and shows each outcome."""

import json

import streamlit as st

from halsted_hf.platform.uploads import HEAD_BYTES

HELP = "MP4, MOV, MKV, WebM, AVI...: anything FFmpeg decodes, up to {limit} each."


def show(settings) -> None:
    # No user text in the HTML: the file names are only ever set as textContent by the script.
    st.html(f"""
<div id="halsted-upload" style="border:1px dashed #bbb;border-radius:8px;padding:12px">
  <label for="halsted-upload-input"><b>Upload operative videos</b></label>
  <div style="font-size:0.85em;color:#666">{HELP.format(limit=settings.max_upload_text)}</div>
  <input id="halsted-upload-input" type="file" multiple style="margin-top:8px">
  <div id="halsted-upload-status" role="status" style="margin-top:6px"></div>
</div>
<script>
(() => {{
  const input = document.getElementById("halsted-upload-input");
  const status = document.getElementById("halsted-upload-status");
  if (!input || input.dataset.ready) return;
  input.dataset.ready = "1";
  const HEAD = {json.dumps(HEAD_BYTES)};
  const send = (url, body, progress) => new Promise((resolve) => {{
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.withCredentials = true;
    if (progress) request.upload.onprogress = (e) => progress(e.loaded, e.total);
    request.onload = () => resolve({{ok: request.status < 300, text: request.responseText}});
    request.onerror = () => resolve({{ok: false, text: null}});
    request.send(body);
  }});
  input.addEventListener("change", async () => {{
    input.disabled = true;
    for (const file of input.files) {{
      const line = document.createElement("div");
      status.appendChild(line);
      const query = "?name=" + encodeURIComponent(file.name) + "&size=" + file.size;
      line.textContent = "Checking " + file.name + "...";
      let answer = await send("/api/uploads/check" + query, file.slice(0, HEAD));
      if (answer.ok) {{
        answer = await send("/api/uploads" + query, file, (done, total) => {{
          line.textContent = "Uploading " + file.name + ": " + Math.floor(100 * done / total) + "%";
        }});
      }}
      line.textContent = answer.text || ("The upload of " + file.name + " was interrupted: upload it again.");
    }}
    location.reload();  // the Library lists the new videos and says what became of each file
  }});
}})();
</script>""", unsafe_allow_javascript=True)
