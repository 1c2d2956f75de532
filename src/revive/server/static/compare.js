// The before/after view: one frame, the original clipped over the result at the split; fit or 100 %.

export class Compare {
  constructor({ stage, frame, before, after, divider, split, splitBox, zoom }) {
    Object.assign(this, { stage, frame, before, after, divider, split, splitBox, zoom });
    this.zoomed = false;
    this.comparing = false;
    split.addEventListener("input", () => this.setSplit(Number(split.value)));
    zoom.addEventListener("click", () => this.setZoom(!this.zoomed));
    frame.addEventListener("pointerdown", (e) => this.press(e));
    this.setSplit(50);
  }

  showOriginal(url) {
    this.comparing = false;
    this.frame.classList.remove("comparing");
    this.divider.hidden = this.splitBox.hidden = true;
    this.after.removeAttribute("src");
    this.before.src = url;
    return loaded(this.before).then(() => this.fit());
  }

  showResult(url) {
    this.after.src = url;
    return loaded(this.after).then(() => {
      this.comparing = true;
      this.frame.classList.add("comparing");
      this.divider.hidden = this.splitBox.hidden = false;
      this.setSplit(Number(this.split.value));
      this.fit();
    });
  }

  setSplit(percent) {
    const value = Math.min(100, Math.max(0, Math.round(percent)));
    this.split.value = String(value);
    this.split.setAttribute("aria-valuetext", `${value} % original on the left, ${100 - value} % result on the right`);
    this.frame.style.setProperty("--split", `${value}%`);
  }

  setZoom(on) {
    this.zoomed = on;
    this.stage.classList.toggle("zoomed", on);
    this.zoom.setAttribute("aria-pressed", String(on));
    this.zoom.textContent = on ? "Fit to the window" : "Zoom to 100 %";
    this.fit();
  }

  fit() { // at 100 % one image pixel is one screen pixel, whatever the browser's zoom
    const shown = this.comparing ? this.after : this.before;
    const width = shown.naturalWidth / (window.devicePixelRatio || 1);
    this.frame.style.setProperty("--natural-width", `${width}px`);
  }

  press(event) {
    if (this.frame.classList.contains("painting") || event.button !== 0) return;
    const panning = this.zoomed;
    if (!panning && !this.comparing) return;
    event.preventDefault();
    this.frame.setPointerCapture(event.pointerId);
    const start = { x: event.clientX, y: event.clientY, left: this.stage.scrollLeft, top: this.stage.scrollTop };
    const move = (e) => {
      if (panning) {
        this.stage.scrollLeft = start.left - (e.clientX - start.x);
        this.stage.scrollTop = start.top - (e.clientY - start.y);
      } else {
        const box = this.frame.getBoundingClientRect();
        this.setSplit(((e.clientX - box.left) / box.width) * 100);
      }
    };
    const up = () => {
      this.frame.removeEventListener("pointermove", move);
      this.stage.classList.remove("panning");
    };
    this.stage.classList.toggle("panning", panning);
    this.frame.addEventListener("pointermove", move);
    this.frame.addEventListener("pointerup", up, { once: true });
    this.frame.addEventListener("pointercancel", up, { once: true });
    if (!panning) move(event);
  }
}

function loaded(img) {
  if (img.complete && img.naturalWidth) return Promise.resolve(img);
  return new Promise((resolve, reject) => {
    img.addEventListener("load", () => resolve(img), { once: true });
    img.addEventListener("error", () => reject(new Error("This browser cannot show the image (the server can still work on it).")),
                         { once: true });
  });
}
