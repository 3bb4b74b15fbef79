// The one stylesheet (served from /static/style.css: the Content-Security-Policy allows no inline style).
export const STYLESHEET = `
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9;line-height:1.45}
header{background:#1f3a5f;color:#fff;padding:.6rem 1.5rem;display:flex;align-items:baseline;gap:2rem;flex-wrap:wrap}
header h1{font-size:1.25rem;margin:0}
header a{color:#fff;text-decoration:none;margin-right:1.2rem}
header a[aria-current=page]{text-decoration:underline}
main{max-width:70rem;margin:1.5rem auto;padding:0 1.5rem}
form.search{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;background:#fff;padding:1rem;border:1px solid #d6dae1;border-radius:6px}
form.search label{display:flex;flex-direction:column;font-size:.8rem;color:#4a5568}
input,select,button{font:inherit;padding:.3rem .45rem}
button{background:#1f3a5f;color:#fff;border:0;border-radius:4px;padding:.4rem .9rem;cursor:pointer}
ol.appliances{list-style:none;padding:0}
ol.appliances li{background:#fff;border:1px solid #d6dae1;border-radius:6px;padding:.8rem 1rem;margin:.7rem 0}
ol.appliances h2{font-size:1.05rem;margin:0 0 .3rem}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.2rem 0;font-size:.9rem}
dl.summary dt{color:#4a5568}
dl.summary dd{margin:0;overflow-wrap:anywhere}
.status{font-size:.75rem;padding:.05rem .4rem;border-radius:3px;margin-left:.4rem;vertical-align:middle}
.status-valid{background:#d7f2de;color:#14532d}.status-expired{background:#eee;color:#555}.status-deprecated{background:#fde2cf;color:#7c2d12}
table{border-collapse:collapse;background:#fff;width:100%;margin:.5rem 0 1.2rem}
th,td{border:1px solid #d6dae1;padding:.3rem .55rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef1f5;font-weight:600}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;overflow-wrap:anywhere}
.pager{display:flex;gap:1rem;align-items:center}
.notice{padding:.7rem 1rem;border-radius:6px;margin:1rem 0}
.notice.ok{background:#d7f2de}.notice.error{background:#fde0e0}
.deprecation{background:#fde2cf;padding:.6rem 1rem;border-radius:6px}
footer{max-width:70rem;margin:2rem auto;padding:0 1.5rem;color:#6b7280;font-size:.85rem}
`;
