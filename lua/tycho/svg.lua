-- svg.lua: a line chart as a standalone SVG file, readable at a glance:
-- a title, both axes with labels and round-number ticks, a grid, one
-- coloured line with markers per series, and a legend. No dependencies.

local svg = {}

local W, H = 760, 460
local left, right, top, bottom = 80, 200, 50, 60
-- colour-blind-safe (Okabe-Ito), then repeats with dashes
local colours = { "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442" }


local function esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&apos;" }))
end


-- About n round ticks (1, 2 or 5 times a power of ten) covering lo..hi.
function svg.ticks(lo, hi, n)
  if hi <= lo then hi = lo + (lo == 0 and 1 or math.abs(lo) * 0.1) end
  local raw = (hi - lo) / (n or 5)
  local p = 10 ^ math.floor(math.log(raw, 10))
  local step = p
  for _, m in ipairs { 1, 2, 5, 10 } do
    if m * p >= raw then step = m * p; break end
  end
  local t, v = {}, math.floor(lo / step) * step
  while v <= hi + step * 1e-9 do
    t[#t + 1] = v
    v = v + step
  end
  if t[#t] < hi then t[#t + 1] = t[#t] + step end
  return t
end


local function num(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
  return string.format("%.4g", v)
end


-- svg.chart{title, x_label, y_label, series = {{name, points = {{x, y}}}}, numeric_x}
-- -> the SVG text. With numeric_x false, x values are category names in
-- the order they first appear.
function svg.chart(c)
  local pw, ph = W - left - right, H - top - bottom
  local out = {}
  local function add(fmt, ...) out[#out + 1] = string.format(fmt, ...) end

  -- the x scale: numbers, or categories spaced evenly
  local cats, cat_at, xs, ys = {}, {}, {}, {}
  for _, s in ipairs(c.series) do
    for _, p in ipairs(s.points) do
      if c.numeric_x then xs[#xs + 1] = p.x
      elseif not cat_at[p.x] then cats[#cats + 1] = p.x; cat_at[p.x] = #cats end
      ys[#ys + 1] = p.y
    end
  end
  local ymin, ymax = math.min(0, table.unpack(ys)), math.max(table.unpack(ys))
  local yt = svg.ticks(ymin, ymax, 6)
  local y0, y1 = yt[1], yt[#yt]
  local function py(v) return top + ph - (v - y0) / (y1 - y0) * ph end
  local px, xt
  if c.numeric_x then
    local xmin, xmax = math.min(table.unpack(xs)), math.max(table.unpack(xs))
    xt = svg.ticks(xmin, xmax, 6)
    local x0, x1 = xt[1], xt[#xt]
    px = function(v) return left + (v - x0) / (x1 - x0) * pw end
  else
    px = function(v) return left + (cat_at[v] - 0.5) / #cats * pw end
    xt = cats
  end

  add('<?xml version="1.0" encoding="UTF-8"?>')
  add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
    .. 'font-family="Helvetica, Arial, sans-serif" font-size="13">', W, H, W, H)
  add('<rect width="%d" height="%d" fill="white"/>', W, H)
  add('<text x="%d" y="28" font-size="16" font-weight="bold" text-anchor="middle">%s</text>',
    left + pw // 2, esc(c.title or ""))
  -- grid and y ticks
  for _, v in ipairs(yt) do
    local y = py(v)
    add('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>', left, y, left + pw, y)
    add('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>', left - 8, y, num(v))
  end
  for _, v in ipairs(xt) do
    local x = px(v)
    add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>', x, top, x, top + ph)
    add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>', x, top + ph + 18,
      esc(c.numeric_x and num(v) or v))
  end
  -- axes and their labels
  add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>', left, top + ph, left + pw, top + ph)
  add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>', left, top, left, top + ph)
  add('<text x="%d" y="%d" text-anchor="middle">%s</text>', left + pw // 2, H - 14, esc(c.x_label or ""))
  add('<text transform="translate(20 %d) rotate(-90)" text-anchor="middle">%s</text>', top + ph // 2,
    esc(c.y_label or ""))
  -- the series, then the legend
  for i, s in ipairs(c.series) do
    local col = colours[(i - 1) % #colours + 1]
    local dash = i > #colours and ' stroke-dasharray="6 3"' or ""
    local pts = {}
    for j, p in ipairs(s.points) do pts[j] = string.format("%.1f,%.1f", px(p.x), py(p.y)) end
    add('<g class="series"><title>%s</title>', esc(s.name))
    add('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>', table.concat(pts, " "), col, dash)
    for _, p in ipairs(s.points) do
      add('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s</title></circle>', px(p.x), py(p.y),
        col, esc(s.name), num(p.y))
    end
    add('</g>')
  end
  local lx, ly = left + pw + 20, top + 10
  add('<g class="legend">')
  for i, s in ipairs(c.series) do
    local col = colours[(i - 1) % #colours + 1]
    local y = ly + (i - 1) * 22
    add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>', lx, y, lx + 24, y, col)
    add('<circle cx="%d" cy="%d" r="3.5" fill="%s"/>', lx + 12, y, col)
    add('<text x="%d" y="%d" dominant-baseline="middle">%s</text>', lx + 32, y, esc(s.name))
  end
  add('</g>')
  add('</svg>')
  return table.concat(out, "\n") .. "\n"
end

return svg
