import { createContext, type ReactNode, useContext, useEffect, useState } from "react";

const NowContext = createContext(Date.now());

/**
 * One clock for the whole page, ticking every few seconds, so every relative age ("3 min ago") moves together
 * and no component keeps a timer of its own.
 */
export function NowProvider({ children, tickMs = 5000 }: { children: ReactNode; tickMs?: number }) {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), tickMs);
    return () => clearInterval(timer);
  }, [tickMs]);
  return <NowContext.Provider value={now}>{children}</NowContext.Provider>;
}

export function useNow(): number {
  return useContext(NowContext);
}
