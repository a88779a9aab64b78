local h = load(ARGV[2])
if not h then return {} end
return fieldsOf(h)
