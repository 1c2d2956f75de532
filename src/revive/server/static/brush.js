// Painting a mask over the photo; sent as a white-on-black PNG at the photo's own size.

export class Brush {
  constructor({ canvas, frame, size, mode, clear }) {
    Object.assign(this, { canvas, frame, size, mode });
    this.erasing = false;
    this.strokes = 0;
    mode.addEventListener("click", () => {
      this.erasing = !this.erasing;
      mode.setAttribute("aria-pressed", String(this.erasing));
    });
    clear.addEventListener("click", () => this.clear());
    canvas.addEventListener("pointerdown", (e) => this.press(e));
  }

  attach(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.clear();
  }

  enable(on) {
    this.canvas.hidden = !on;
    this.frame.classList.toggle("painting", on);
  }

  clear() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
  }

  get painted() { return this.strokes > 0; }

  press(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    const ctx = this.canvas.getContext("2d");
    const box = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / box.width;
    const at = (e) => [(e.clientX - box.left) * scale, (e.clientY - box.top) * scale];
    ctx.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = "rgb(255, 40, 40)";
    ctx.lineWidth = Number(this.size.value) * scale;
    ctx.lineCap = ctx.lineJoin = "round";
    let [x, y] = at(event);
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    const move = (e) => {
      const [nx, ny] = at(e);
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(nx, ny);
      ctx.stroke();
      [x, y] = [nx, ny];
    };
    const up = () => this.canvas.removeEventListener("pointermove", move);
    this.canvas.addEventListener("pointermove", move);
    this.canvas.addEventListener("pointerup", up, { once: true });
    this.canvas.addEventListener("pointercancel", up, { once: true });
    if (!this.erasing) this.strokes += 1;
  }

  toBlob() {
    const out = document.createElement("canvas");
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const ctx = out.getContext("2d");
    ctx.drawImage(this.canvas, 0, 0);
    ctx.globalCompositeOperation = "source-in"; // painted pixels (soft edges kept) become white
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.globalCompositeOperation = "destination-over"; // the rest black
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }
}
