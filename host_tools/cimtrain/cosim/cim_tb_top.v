// Testbench top of cim_macro for the cocotb benches (simulation only; never in rtl/).
//
// * Clock: free-running, generated here (period 2 * ClkHalfNs ns).  A clock driven
//   from Python costs a VPI callback per toggle; this one costs the simulator only.
// * Reset: rst_ni is a plain reg, driven by cocotb.
// * Transactor: the bus master.  It plays a program of accesses from prog back to
//   back, one transaction at a time, with RREADY/BREADY held high.  Its registers drive
//   the macro's ports directly: a multiplexer for a second master cost 13 % of the
//   simulator's time per access (every extra net level re-runs the macro's large
//   combinational blocks once more).
// * Recorder: an independent monitor of the macro's bus.  It latches every request
//   (AR, or AW+W: address, data, strobes) at its handshake and, on the edge of its
//   response (R, B), appends one entry with both to log_mem[]; on every edge where the
//   sampled irq_o changes it appends that.  Edges are edge indices (rising edges since
//   rst_ni was released, the first being 0: the time base of docs/arithmetic.md §4).
//   Python reads the log and feeds the model scoreboard (tb.py), which
//   checks every response and the irq_o pin at every edge.
//
// Program entry and log entry layouts: cim_tb_xact.vh, generated from
//   host_tools/cimtrain/cosim/xact.py (the one source; tb.py uses the same module).
//   Ops WRITE, READ, IDLE: no request until the edge index UNTIL can be reached, so that
//   the next request's handshake lands on that edge if the slave is idle.  cocotb writes
//   entries 0..prog_len-1 and prog_len, then increments req_seq; the transactor sets
//   ack_seq = req_seq once every entry was played and every response received, or, with
//   x_timeout set, once a request waited StallEdges edges for its handshake or response
//   (the macro does not answer).  The recorder appends one log entry per access (kind
//   READ/WRITE) on its response's edge and one per change of irq_o (kind IRQ); log_wp
//   counts entries ever written (log_mem is a ring).
`timescale 1ns / 1ps
`include "cim_reg_pkg.svh"
module cim_tb_top import cim_reg_pkg::*; #(
  parameter int NTiles    = 8,
  parameter int Rows      = 256,
  parameter int Cols      = 64,
  parameter int ClkHalfNs = 5,
  parameter int ProgDepth = 256,
  parameter int LogDepth  = 1024,
  parameter int StallEdges = 1000   // a request not answered within this: abandon
) ();
  /* verilator lint_off UNUSEDPARAM */
  `include "cim_tb_xact.vh"
  /* verilator lint_on UNUSEDPARAM */

  localparam int AW = CIM_ADDR_WIDTH;

  // ---------------------------------------------------------------- clock and reset
  reg clk_i = 1'b0;
  reg rst_ni = 1'b0;
  // Constants, non-blocking: in Icarus every signal a process reads or writes with a
  // blocking statement costs about 500 host instructions (a dynamic_cast), and
  // clk_i = ~clk_i did both on every toggle (a tenth of an idle cycle).
  initial forever begin
    #(ClkHalfNs) clk_i <= 1'b1;
    #(ClkHalfNs) clk_i <= 1'b0;
  end

  reg [63:0] edge_q = 64'd0;  // index of the next rising edge (counted in per_edge below)

  // ---------------------------------------------------------------- the macro's bus
  wire          s_axil_awready, s_axil_wready, s_axil_bvalid, s_axil_arready, s_axil_rvalid;
  wire [1:0]    s_axil_bresp, s_axil_rresp;
  wire [31:0]   s_axil_rdata;
  wire          irq_o;

  // ---------------------------------------------------------------- transactor
  // prog[i] = {prog_hi[i], prog_lo[i]}: two 32-bit memories, so that cocotb writes each
  // word with one integer put (a 64-bit value would go through a binary string)
  reg [31:0] prog_hi [0:ProgDepth-1];
  reg [31:0] prog_lo [0:ProgDepth-1];
  reg [31:0] prog_len = 32'd0;
  reg [31:0] req_seq  = 32'd0;
  reg [31:0] ack_seq  = 32'd0;
  reg [63:0] rec_edge = 64'd0;  // index of the edge of the last ack (rec_edge + 1: next)

  // The falling-edge starter and the rising-edge player both write these, never on
  // the same edge (the starter only while x_run is 0, the player only while it is 1).
  /* verilator lint_off MULTIDRIVEN */
  reg           x_run = 1'b0;
  reg [31:0]    x_pc = 32'd0;
  reg           x_pend = 1'b0;  // a response is outstanding
  reg           x_idle = 1'b0;  // the current entry is an IDLE or a WAIT
  reg           x_wait = 1'b0;  // ... a WAIT
  reg [ProgUntilW-1:0] x_until = '0;  // its edge (a WAIT's: its deadline)
  reg           x_awvalid = 1'b0, x_wvalid = 1'b0, x_arvalid = 1'b0;
  reg [AW-1:0]  x_awaddr = '0, x_araddr = '0;
  reg [31:0]    x_wdata = '0;
  reg [3:0]     x_wstrb = '0;
  reg [31:0]    x_stall = 32'd0;  // edges the presented request has waited so far
  reg           x_timeout = 1'b0; // the last program was abandoned at entry x_pc
  /* verilator lint_on MULTIDRIVEN */

  cim_macro #(.NTiles(NTiles), .Rows(Rows), .Cols(Cols)) u_macro (
    .clk_i          (clk_i),
    .rst_ni         (rst_ni),
    .s_axil_awaddr  (x_awaddr),
    .s_axil_awprot  (3'd0),
    .s_axil_awvalid (x_awvalid),
    .s_axil_awready (s_axil_awready),
    .s_axil_wdata   (x_wdata),
    .s_axil_wstrb   (x_wstrb),
    .s_axil_wvalid  (x_wvalid),
    .s_axil_wready  (s_axil_wready),
    .s_axil_bresp   (s_axil_bresp),
    .s_axil_bvalid  (s_axil_bvalid),
    .s_axil_bready  (1'b1),
    .s_axil_araddr  (x_araddr),
    .s_axil_arprot  (3'd0),
    .s_axil_arvalid (x_arvalid),
    .s_axil_arready (s_axil_arready),
    .s_axil_rdata   (s_axil_rdata),
    .s_axil_rresp   (s_axil_rresp),
    .s_axil_rvalid  (s_axil_rvalid),
    .s_axil_rready  (1'b1),
    .irq_o          (irq_o)
  );

  // an IDLE entry's edge index, widened to the edge counter's 64 bits
  // (static: Icarus builds a frame for every call of an automatic function)
  function [63:0] idle_until(input [ProgW-1:0] e);
    idle_until = {{(64 - ProgUntilW){1'b0}}, e[ProgUntilLsb +: ProgUntilW]};
  endfunction

  wire hs_ar = x_arvalid & s_axil_arready;
  wire hs_w  = x_awvalid & s_axil_awready & x_wvalid & s_axil_wready;
  wire hs_r  = s_axil_rvalid;  // RREADY and BREADY are held high
  wire hs_b  = s_axil_bvalid;

  // Entry e as bus signals: only the fields of its op change, every other net keeps
  // still (each change costs simulator events in the macro).  A macro, not a task:
  // Icarus 11 does not propagate non-blocking assignments made inside an automatic
  // task to the nets they drive.  The op is tested once and the valids are constants
  // per case: in Icarus every read of a variable costs about 500 host instructions.
`define CIM_TB_PRESENT(e, live, first)                           \
    if (live) begin                                               \
      case (e[ProgOpLsb +: ProgOpW])                              \
        OpWrite: begin                                            \
          {x_awvalid, x_wvalid, x_arvalid, x_idle} <= 4'b1100;    \
          x_wait   <= 1'b0;                                       \
          x_awaddr <= e[ProgAddrLsb +: AW];                       \
          x_wdata  <= e[ProgDataLsb +: ProgDataW];                \
          x_wstrb  <= e[ProgStrbLsb +: ProgStrbW];                \
        end                                                       \
        OpRead: begin                                             \
          {x_awvalid, x_wvalid, x_arvalid, x_idle} <= 4'b0010;    \
          x_wait   <= 1'b0;                                       \
          x_araddr <= e[ProgAddrLsb +: AW];                       \
        end                                                       \
        OpIdle: begin                                             \
          {x_awvalid, x_wvalid, x_arvalid, x_idle} <= 4'b0001;    \
          x_wait   <= 1'b0;                                       \
          x_until  <= e[ProgUntilLsb +: ProgUntilW];              \
        end                                                       \
        OpWait: begin                                             \
          {x_awvalid, x_wvalid, x_arvalid, x_idle} <= 4'b0001;    \
          x_wait   <= 1'b1;                                       \
          x_until  <= ProgUntilW'(first) + e[ProgUntilLsb +: ProgUntilW]; \
        end                                                       \
        default: {x_awvalid, x_wvalid, x_arvalid, x_idle} <= 4'b0000; \
      endcase                                                     \
    end else begin                                                \
      {x_awvalid, x_wvalid, x_arvalid, x_idle} <= 4'b0000;        \
    end

  // WAIT: the macro's BUSY, peeked at (a bench may; renaming these fails the build).
  // macro_busy: what a STATUS read on the next rising edge returns, as seen between
  // edges (the starter); wait_over: the same for the edge after the one being processed
  // (the per-edge process, on a rising edge: BUSY falls there if the command's last
  // cycle is that edge, done_set).  Nets: they change twice a command.
  wire macro_busy = u_macro.u_regfile.busy_q;
  wire wait_over  = ~u_macro.u_regfile.busy_q | u_macro.u_regfile.done_set;

  // Start: on the falling edge after cocotb asked for a program, present entry 0, so
  // that its handshake can be the very next rising edge.  (cocotb writes between
  // edges; during reset the entry waits for edge 0.)  IDLEs whose edge that rising
  // edge already reaches are passed over, and so are WAITs whose command has ended (or
  // whose number of edges is 0).  The starter sleeps until cocotb writes
  // req_seq (a process woken on every falling edge cost an idle cycle a sixth more).
  always begin : starter
    reg [31:0] pc;
    reg [ProgW-1:0] e;
    @(req_seq);
    @(negedge clk_i);
    if (!x_run && req_seq != ack_seq) begin
      pc = 32'd0;
      e  = {prog_hi[0], prog_lo[0]};
      while (pc < prog_len && ((e[ProgOpLsb +: ProgOpW] == OpIdle && idle_until(e) <= edge_q)
                               || (e[ProgOpLsb +: ProgOpW] == OpWait
                                   && (!macro_busy || e[ProgUntilLsb +: ProgUntilW] == '0)))) begin
        pc = pc + 32'd1;
        e  = {prog_hi[pc % ProgDepth], prog_lo[pc % ProgDepth]};
      end
      x_run     <= 1'b1;
      x_pc      <= pc;
      x_pend    <= 1'b0;
      x_stall   <= 32'd0;
      x_timeout = 1'b0;
      `CIM_TB_PRESENT(e, pc < prog_len, edge_q)
    end
  end

  // ---------------------------------------------------------------- recorder
  // One entry per access, written on its response's edge: the request as the recorder
  // latched it from the bus at its handshake, the response, both edges.  Then, on the
  // same edge, a change of irq_o.  Entries are in edge order of their requests.
  // log_wp (and the transactor's rec_edge) are written with blocking assignments:
  // cocotb reads them when ack_seq changes (non-blocking, later in the same time step),
  // and then they already cover this edge.  On edges with nothing to log or latch the
  // recorder costs one test of rec_any.
  reg [LogW-1:0] log_mem [0:LogDepth-1];
  reg [31:0]  log_wp = 32'd0;
  reg         irq_seen = 1'b0;
  reg [63:0]  rq_edge = '0;     // the outstanding request, as seen on the bus
  reg [3:0]   rq_kind = '0;
  reg [AW-1:0] rq_addr = '0;
  reg [31:0]  rq_data = '0;
  reg [3:0]   rq_strb = '0;
  wire        rec_any = hs_ar | hs_w | hs_r | hs_b | (irq_o !== irq_seen);

  // Play: a request stays presented, unchanged, from before its handshake until its
  // response; on the response's edge the slave turns idle and the next request is
  // presented, so it hand-shakes one edge later (2 edges per access, the slave's
  // limit) and the macro sees the bus change once per access, together with its own
  // response going (each change re-runs its large combinational blocks).  An IDLE
  // holds the bus still until the edge it names can be reached.  Done when every entry
  // was played and the last response received: ack_seq = req_seq.
  //
  // The edge counter, the transactor's player and the recorder are one process: each
  // process woken on an edge costs Icarus about as much as a few statements, and an idle
  // cycle of the whole bench was mostly such wake-ups.  Within the process the three
  // parts only read what the others write with non-blocking assignments (or write what
  // cocotb reads after the edge), so their order does not matter.
  // The per-edge process's temporaries, outside it: in Icarus a named block with
  // variables costs about 2,800 host instructions each time it is entered (every edge).
  reg [31:0] pe_pc;               // player
  reg [ProgW-1:0] pe_e;
  reg pe_step;
  always @(posedge clk_i or negedge rst_ni) begin  // per_edge
    if (!rst_ni) begin
      edge_q   <= 64'd0;
      irq_seen <= 1'b0;
    end else begin
      edge_q <= edge_q + 64'd1;
      // player: on an edge either the presented IDLE may end, or the outstanding
      // request gets its response (the next entry is presented), or the request waits
      // (for its handshake, which may be this edge, or its response) and its stall
      // count grows.  The fewest statements per edge: Icarus's cost is per statement.
      // (Testing a net "IDLE not due yet" instead cost more: its 64-bit compare and add
      // re-ran on every edge.)
      if (x_run) begin
        pe_step = 1'b0;
        if (x_idle) begin  // an IDLE's edge is due, or a WAIT's command ends (or deadline)
          if (x_wait) begin
            pe_step = wait_over | ({{(64 - ProgUntilW){1'b0}}, x_until} <= edge_q + 64'd1);
          end else begin
            pe_step = ({{(64 - ProgUntilW){1'b0}}, x_until} <= edge_q + 64'd1);
          end
        end else if (x_pend && (hs_r | hs_b)) begin
          x_pend  <= 1'b0;
          pe_step = 1'b1;
        end else if (!x_pend && !(x_awvalid | x_arvalid)) begin
          // nothing presented: every entry was an IDLE already reached at the start
          x_run    <= 1'b0;
          ack_seq  <= req_seq;
          rec_edge =  edge_q;
        end else begin
          if (hs_ar | hs_w) x_pend <= 1'b1;  // accepted; busy until its response
          if (x_stall >= StallEdges) begin
            // errors, not hangs: a macro that does not accept or answer a request ends
            // the program; cocotb finds x_timeout set
            {x_awvalid, x_wvalid, x_arvalid} <= 3'b000;
            x_run     <= 1'b0;
            ack_seq   <= req_seq;
            rec_edge  =  edge_q;
            x_timeout =  1'b1;
          end else begin
            x_stall <= x_stall + 32'd1;
          end
        end
        if (pe_step) begin
          pe_pc = x_pc + 32'd1;
          pe_e  = {prog_hi[pe_pc % ProgDepth], prog_lo[pe_pc % ProgDepth]};
          while (pe_pc < prog_len
                 && ((pe_e[ProgOpLsb +: ProgOpW] == OpIdle && idle_until(pe_e) <= edge_q + 64'd1)
                     || (pe_e[ProgOpLsb +: ProgOpW] == OpWait
                         && (wait_over || pe_e[ProgUntilLsb +: ProgUntilW] == '0)))) begin
            pe_pc = pe_pc + 32'd1;
            pe_e  = {prog_hi[pe_pc % ProgDepth], prog_lo[pe_pc % ProgDepth]};
          end
          `CIM_TB_PRESENT(pe_e, pe_pc < prog_len, edge_q + 64'd1)
          x_pc <= pe_pc;
          if (pe_pc >= prog_len) begin
            x_run    <= 1'b0;
            ack_seq  <= req_seq;
            rec_edge =  edge_q;   // blocking: cocotb reads it when ack_seq changes
          end else begin
            x_stall <= 32'd0;
          end
        end
      end
      // recorder
      if (rec_any) begin
        if (hs_r) begin
          log_mem[log_wp % LogDepth] = `CIM_LOG_ENTRY(rq_edge, edge_q - rq_edge, KindRead,
              s_axil_rresp, rq_strb, rq_addr, s_axil_rdata);
          log_wp = log_wp + 32'd1;
        end else if (hs_b) begin
          log_mem[log_wp % LogDepth] = `CIM_LOG_ENTRY(rq_edge, edge_q - rq_edge, KindWrite,
              s_axil_bresp, rq_strb, rq_addr, rq_data);
          log_wp = log_wp + 32'd1;
        end
        if (irq_o !== irq_seen) begin
          log_mem[log_wp % LogDepth] = `CIM_LOG_ENTRY(edge_q, 0, KindIrq, 0, 0, 0, irq_o);
          log_wp = log_wp + 32'd1;
          irq_seen <= irq_o;
        end
        if (hs_ar) begin
          {rq_edge, rq_kind, rq_addr, rq_data, rq_strb} = {edge_q, KindRead, x_araddr, 32'd0, 4'hF};
        end else if (hs_w) begin
          {rq_edge, rq_kind, rq_addr, rq_data, rq_strb} = {edge_q, KindWrite, x_awaddr, x_wdata, x_wstrb};
        end
      end
    end
  end
`undef CIM_TB_PRESENT

  // ---------------------------------------------------------------- fault hook
  // Test hook of tests/cocotb/xact_tests.py (a macro that never accepts a request): while
  // stall_macro is 1 the macro's bus slave looks busy for ever.  The force is HDL, and
  // cocotb only deposits stall_macro, because Verilator ignores a VPI force on a net
  // (cocotb issue 3831); an HDL force works in both simulators.  Nothing else drives it.
  reg stall_macro = 1'b0;
  always @(stall_macro) begin
    if (stall_macro) force u_macro.u_axil.idle = 1'b0;
    else             release u_macro.u_axil.idle;
  end

endmodule
