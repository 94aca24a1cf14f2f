-- POST of one fixed OCSP request, the same bytes every time:
--   wrk ... -s SCRIPT URL -- REQUEST.der
function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/ocsp-request"
end
