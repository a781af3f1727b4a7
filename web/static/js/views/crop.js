// The avatar crop (§13): a square frame you drag and zoom with mouse, touch or keyboard; the
// result is drawn client-side to 128×128 and encoded as JPEG, transparency filled.

import { h } from '../render.js';
import { modal } from './dialog.js';

const VIEW = 256;
const OUT = 128;

function loadImage(file) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.addEventListener('load', () => resolve(img), { once: true });
    img.addEventListener('error', () => resolve(null), { once: true });
    img.src = url;
  });
}

/** Resolves to a JPEG Blob of the chosen square, or null when cancelled or unreadable. */
export async function cropImage(file) {
  const img = await loadImage(file);
  if (!img) return null;
  return new Promise((resolve) => {
    const canvas = h('canvas', { class: 'crop-canvas', width: String(VIEW), height: String(VIEW), tabindex: '0',
      'aria-label': 'Crop area: drag or use the arrow keys to move, plus and minus to zoom' });
    const ctx = canvas.getContext('2d');
    const base = Math.max(VIEW / img.naturalWidth, VIEW / img.naturalHeight);
    let zoom = 1;
    let x = (VIEW - img.naturalWidth * base) / 2;
    let y = (VIEW - img.naturalHeight * base) / 2;
    const zoomInput = h('input', { type: 'range', id: 'crop-zoom', min: '1', max: '4', step: '0.05', value: '1' });
    const clamp = () => {
      const w = img.naturalWidth * base * zoom;
      const hgt = img.naturalHeight * base * zoom;
      x = Math.min(0, Math.max(VIEW - w, x));
      y = Math.min(0, Math.max(VIEW - hgt, y));
    };
    const draw = () => {
      clamp();
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, VIEW, VIEW);
      ctx.drawImage(img, x, y, img.naturalWidth * base * zoom, img.naturalHeight * base * zoom);
    };
    const setZoom = (next, cx = VIEW / 2, cy = VIEW / 2) => {
      const z = Math.max(1, Math.min(4, next));
      x = cx - ((cx - x) * z) / zoom;
      y = cy - ((cy - y) * z) / zoom;
      zoom = z;
      zoomInput.value = String(z);
      draw();
    };
    let drag = null;
    canvas.addEventListener('pointerdown', (e) => { drag = { px: e.clientX, py: e.clientY, x, y }; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener('pointermove', (e) => { if (!drag) return; x = drag.x + e.clientX - drag.px; y = drag.y + e.clientY - drag.py; draw(); });
    canvas.addEventListener('pointerup', () => { drag = null; });
    canvas.addEventListener('wheel', (e) => { e.preventDefault(); setZoom(zoom * (e.deltaY < 0 ? 1.1 : 0.9)); }, { passive: false });
    canvas.addEventListener('keydown', (e) => {
      const moves = { ArrowLeft: [8, 0], ArrowRight: [-8, 0], ArrowUp: [0, 8], ArrowDown: [0, -8] };
      if (moves[e.key]) { e.preventDefault(); x += moves[e.key][0]; y += moves[e.key][1]; draw(); }
      if (e.key === '+' || e.key === '=') { e.preventDefault(); setZoom(zoom * 1.1); }
      if (e.key === '-') { e.preventDefault(); setZoom(zoom / 1.1); }
    });
    zoomInput.addEventListener('input', () => setZoom(Number(zoomInput.value)));
    let result = null;
    const apply = h('button', { type: 'button', class: 'button button-primary' }, 'Use this picture');
    const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
    const content = h('div', { class: 'crop' }, canvas,
      h('div', { class: 'field' }, h('label', { for: 'crop-zoom' }, 'Zoom'), zoomInput),
      h('div', { class: 'dialog-actions' }, cancel, apply));
    const { close } = modal({ title: 'Crop your avatar', content, focus: canvas, onClose: () => resolve(result) });
    cancel.addEventListener('click', close);
    apply.addEventListener('click', () => {
      const out = document.createElement('canvas');
      out.width = OUT;
      out.height = OUT;
      const octx = out.getContext('2d');
      octx.fillStyle = '#ffffff';
      octx.fillRect(0, 0, OUT, OUT);
      octx.drawImage(canvas, 0, 0, VIEW, VIEW, 0, 0, OUT, OUT);
      out.toBlob((blob) => { result = blob; close(); }, 'image/jpeg', 0.9);
    });
    draw();
  });
}
